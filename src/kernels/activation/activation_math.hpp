#pragma once
// The one definition of each activation and of its derivative, as templates
// over an xsimd batch. The GEMM epilogue and the element-wise kernels both
// call these, so forward and backward agree everywhere in the library.
//
// Derivatives are in fused "use the output" form: given the upstream
// gradient g = dL/dA and the stored output A = f(Z), they return
// dL/dZ = g ⊙ f'(Z) written in terms of A:
//   ReLU:    g · [A > 0]        (the derivative at exactly 0 is 0, as PyTorch)
//   sigmoid: g · A(1 − A)
//   tanh:    g · (1 − A²)
// and exp_sub, the exponential of softmax (the activation kernels' softmax
// and the fused softmax cross-entropy both use it).
//
// Included only by per-ISA translation units; everything is in an anonymous
// namespace so that no copy compiled with one ISA's flags is shared with
// another translation unit by the linker.
#include <xsimd/xsimd.hpp>

#include "nabla/kernels/types.hpp"

namespace nabla::kernels {
namespace {

// ReLU that propagates NaN (NaN < 0 is false, so NaN passes through).
template <class B>
inline B relu_fwd(B x) {
  return xsimd::select(x < B(0.f), B(0.f), x);
}

// σ(x) = 1 / (1 + e^−x). For x → −∞, e^−x overflows to +inf and σ → 0
// (correctly rounded limit); for x → +∞, e^−x → 0 and σ → 1. NaN propagates.
template <class B>
inline B sigmoid_fwd(B x) {
  return B(1.f) / (B(1.f) + xsimd::exp(-x));
}

template <class B>
inline B tanh_fwd(B x) {
  return xsimd::tanh(x);
}

template <class B>
inline B relu_bwd_use_dst(B g, B a) {
  return xsimd::select(a > B(0.f), g, B(0.f));
}

template <class B>
inline B sigmoid_bwd_use_dst(B g, B a) {
  return g * (a * (B(1.f) - a));
}

// 1 − a² as (1 − a)(1 + a): near |a| = 1, where 1 − a² cancels, 1 ∓ a is
// exact (Sterbenz), so the result is accurate to 2 ulp with or without FMA
// (a·a rounded before the subtraction loses up to 2^-24/(1 − a²) relative).
template <class B>
inline B tanh_bwd_use_dst(B g, B a) {
  return g * ((B(1.f) - a) * (B(1.f) + a));
}

// e^(z − m) for softmax (m = the row maximum, so z − m <= 0). z − m is not
// exact in float, and e^x has relative condition |x|: for z − m = −60 the
// rounding of the difference alone costs 2e-6. The difference is split into
// its rounded value d and the exact rounding error r (Knuth's TwoSum), and
// e^(d + r) = e^d (1 + r). When d is ±inf or NaN, r is NaN and e^d alone is
// the answer (0 for z = −inf; NaN stays NaN through e^d).
template <class B>
inline B exp_sub(B z, B m) {
  const B d = z - m;
  const B zv = d + m;
  const B mv = d - zv;
  const B r = (z - zv) - (m + mv);
  const B e = xsimd::exp(d);
  return xsimd::select(xsimd::abs(r) < B(1.f), xsimd::fma(e, r, e), e);
}

template <class B>
inline B activation_fwd(Activation f, B x) {
  switch (f) {
    case Activation::ReLU: return relu_fwd(x);
    case Activation::Sigmoid: return sigmoid_fwd(x);
    case Activation::Tanh: return tanh_fwd(x);
    case Activation::None: break;
  }
  return x;
}

template <class B>
inline B activation_bwd_use_dst(Activation f, B g, B a) {
  switch (f) {
    case Activation::ReLU: return relu_bwd_use_dst(g, a);
    case Activation::Sigmoid: return sigmoid_bwd_use_dst(g, a);
    case Activation::Tanh: return tanh_bwd_use_dst(g, a);
    case Activation::None: break;
  }
  return g;
}

}  // namespace
}  // namespace nabla::kernels
