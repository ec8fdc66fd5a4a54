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
// Included by the per-ISA translation units and by the scalar references
// (reference_math.hpp); everything is in an anonymous namespace so that no
// copy compiled with one ISA's flags is shared with another translation unit
// by the linker.
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstddef>

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

// ---------------------------------------------------------------------------
// The activation table's maths: one struct per ActKind (same order as
// kActivations in <nabla/kernels/types.hpp>), holding the parameter and
//   fwd(x)          the SIMD forward, any xsimd batch
//   bwd(g, a)       the SIMD derivative in use-the-output form, g · f'(z)
//                   written in terms of a = f(z)
//   ref(z)          the float64 reference of fwd (the scalar references)
//   ref_bwd(g, a)   the float64 reference of bwd
// Every element-wise kernel, GEMM epilogue, convolution epilogue and scalar
// reference reaches these through with_activation(), so a new row here is
// fused everywhere.

template <ActKind K>
struct ActOp;

template <>
struct ActOp<ActKind::None> {
  float p;
  template <class B> B fwd(B x) const { return x; }
  template <class B> B bwd(B g, B) const { return g; }
  double ref(double z) const { return z; }
  double ref_bwd(double g, double) const { return g; }
};

// max(x, 0); the derivative at exactly 0 is 0, as PyTorch's. The reference
// selects (g where a > 0, else exactly 0, even for a NaN g), as the kernels do.
template <>
struct ActOp<ActKind::ReLU> {
  float p;
  template <class B> B fwd(B x) const { return relu_fwd(x); }
  template <class B> B bwd(B g, B a) const { return relu_bwd_use_dst(g, a); }
  double ref(double z) const { return z < 0 ? 0 : z; }
  double ref_bwd(double g, double a) const { return a > 0 ? g : 0; }
};

template <>
struct ActOp<ActKind::Sigmoid> {
  float p;
  template <class B> B fwd(B x) const { return sigmoid_fwd(x); }
  template <class B> B bwd(B g, B a) const { return sigmoid_bwd_use_dst(g, a); }
  double ref(double z) const { return 1 / (1 + std::exp(-z)); }
  double ref_bwd(double g, double a) const { return g * (a * (1 - a)); }
};

template <>
struct ActOp<ActKind::Tanh> {
  float p;
  template <class B> B fwd(B x) const { return tanh_fwd(x); }
  template <class B> B bwd(B g, B a) const { return tanh_bwd_use_dst(g, a); }
  double ref(double z) const { return std::tanh(z); }
  double ref_bwd(double g, double a) const { return g * ((1 - a) * (1 + a)); }
};

// α(e^x − 1) for x <= 0 (expm1: exact near 0, where e^x − 1 cancels), x
// above. Use-the-output derivative: 1 above 0, else α·e^z = a + α (valid
// for α >= 0, where a <= 0 exactly when z <= 0), as torch's elu_backward.
template <>
struct ActOp<ActKind::ELU> {
  float p;
  template <class B> B fwd(B x) const { return xsimd::select(x > B(0.f), x, B(p) * xsimd::expm1(x)); }
  template <class B> B bwd(B g, B a) const { return xsimd::select(a > B(0.f), g, g * (a + B(p))); }
  double ref(double z) const { return z > 0 ? z : p * std::expm1(z); }
  double ref_bwd(double g, double a) const { return a > 0 ? g : g * (a + p); }
};

// x for x >= 0, slope·x below (NaN passes: NaN < 0 is false). Derivative
// from the output: 1 where a > 0, else the slope (valid for slope >= 0; at
// exactly 0 the slope, as torch's leaky_relu_backward).
template <>
struct ActOp<ActKind::LeakyReLU> {
  float p;
  template <class B> B fwd(B x) const { return xsimd::select(x < B(0.f), x * B(p), x); }
  template <class B> B bwd(B g, B a) const { return xsimd::select(a > B(0.f), g, g * B(p)); }
  double ref(double z) const { return z < 0 ? z * p : z; }
  double ref_bwd(double g, double a) const { return a > 0 ? g : g * p; }
};

template <size_t I, class F>
inline decltype(auto) dispatch_activation(Activation f, F& fn) {
  constexpr auto kind = static_cast<ActKind>(I);
  if constexpr (I + 1 < kActivations.size()) {
    if (f.kind != kind) return dispatch_activation<I + 1>(f, fn);
  }
  return fn(ActOp<kind>{f.param});
}

// Calls fn(op) with the ActOp of f (its parameter inside), so that a loop
// written in fn is compiled once per activation with the activation inlined:
//   with_activation(f, [&](auto op) { for (...) y[i] = op.fwd(x[i]); });
// Every instantiation of fn must return the same type.
template <class F>
inline decltype(auto) with_activation(Activation f, F&& fn) {
  return dispatch_activation<0>(f, fn);
}

// One value through f (dispatch per call: for code outside hot loops).
template <class B>
inline B activation_fwd(Activation f, B x) {
  return with_activation(f, [&](auto op) { return op.fwd(x); });
}

template <class B>
inline B activation_bwd_use_dst(Activation f, B g, B a) {
  return with_activation(f, [&](auto op) { return op.bwd(g, a); });
}

}  // namespace
}  // namespace nabla::kernels
