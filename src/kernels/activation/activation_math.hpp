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
//
// Included only by per-ISA translation units; everything is in an anonymous
// namespace so that no copy compiled with one ISA's flags is shared with
// another translation unit by the linker.
#include <xsimd/xsimd.hpp>

#include "nabla/kernels/gemm.hpp"

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

template <class B>
inline B tanh_bwd_use_dst(B g, B a) {
  return g * xsimd::fnma(a, a, B(1.f));  // 1 − a²
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
