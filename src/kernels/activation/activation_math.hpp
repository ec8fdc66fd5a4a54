#pragma once
// The one definition of each activation and of its derivative, as templates
// over an xsimd batch. The GEMM epilogue and the element-wise kernels both
// call these, so forward and backward agree everywhere in the library.
//
// Derivatives are in fused form dL/dZ = g ⊙ f'(Z) from a stored D: the
// output A for most kinds ("use the output", below), the input Z for the
// kinds whose table row says DerivFrom::Input (GELU, SiLU; see their ActOps).
// The use-the-output forms: given the upstream
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
#include <limits>
#include <type_traits>

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
//   bwd(g, d)       the SIMD derivative g · f'(z), from d = a = f(z) (use
//                   the output) or d = z (rows with DerivFrom::Input)
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

// ---- derivatives from the input Z (DerivFrom::Input): bwd(g, z) ----------

// a·b − p exactly, for p = fl(a·b) (the rounding error of a product): one
// fused multiply-subtract where the ISA has one (the AVX-512 intrinsic:
// xsimd 8's AVX-512 fma is x*y + z, fused only at the compiler's whim),
// Dekker's product on SSE2. The GELU/SiLU maths below use it to keep the
// rounding of their arguments out of e^x's and erfc's condition number.
template <class B>
inline B product_error(B a, B b, B p) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<typename B::arch_type, xsimd::avx512f>) return _mm512_fmsub_ps(a, b, p);
#endif
#if defined(__FMA__)
  return xsimd::fma(a, b, -p);
#else
  const B k(4097.f);
  const B ta = k * a, tb = k * b;
  const B ah = ta - (ta - a), al = a - ah, bh = tb - (tb - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
#endif
}

// z·σ(v) and q = 1 − σ(v) without overflow, cancellation or a denormal
// step: e = e^−|v| <= 1 (σ = 1/(1 + e) or e/(1 + e)); where e^−|v| would
// be denormal (v < −80) but z·σ(v) is not, e = h·h with h = e^(v/2) and the
// product is (z·h)·h.
template <class B>
inline B mul_sigmoid(B z, B v, B& q) {
  const auto far = v < B(-80.f);
  const B h = xsimd::exp(xsimd::select(far, B(0.5f) * v, -xsimd::abs(v)));
  const B e = xsimd::select(far, h * h, h);
  const B r = B(1.f) / (B(1.f) + e);
  const auto pos = v >= B(0.f);
  q = xsimd::select(pos, e * r, r);
  return xsimd::select(pos, z, xsimd::select(far, (z * h) * h, z * h)) * r;
}

// z·Φ(z)/s and Φ(z), Φ(z) = erfc(−z/√2)/2 the standard normal CDF (the
// GELU forward is gelu_erf(z, phi), its derivative uses phi).
//  - −z/√2 is split into its float x and the rest e (1/√2 as two floats,
//    the product's rounding by FMA), and erfc(x + e) = erfc(x)(1 − e·R(x))
//    with R(x) = (2/√π)e^(−x²)/erfc(x) ≈ x + √(x² + 4/π) (the bounds of
//    Abramowitz–Stegun 7.1.13, within 0.36/x of R, so the correction is
//    exact far below an ulp): erfc's condition 2x² would otherwise turn the
//    argument's rounding into 60 ulp at z = −10.
//  - erfc(|x|) is xsimd's (its two rational kernels), but for |x| >= 2/3
//    e^(−x²) is taken as h·h, h = e^(−t/2), with x² = t + t_lo split by FMA
//    (xsimd rounds x² first: 40 ulp at x = 9), and multiplied into z·K last
//    so that no factor is denormal where z·Φ(z) is not.
template <class B>
inline B gelu_erf(B z, B& phi) {
  using K = xsimd::kernel::detail::erf_kernel<B>;
  const B c_hi(0.70710677f), c_lo(1.2101617e-08f);
  const B nz = -z;
  const B x = nz * c_hi;
  const B e = product_error(nz, c_hi, x) + nz * c_lo;
  const B xc = xsimd::min(xsimd::max(x, B(-10.f)), B(10.f));
  const B rr = xc + xsimd::sqrt(xsimd::fma(xc, xc, B(1.2732395f)));
  const B corr = xsimd::select(xsimd::abs(x) < B(10.f), xsimd::fnma(e, rr, B(1.f)), B(1.f));
  const B ax = xsimd::abs(x);
  const B zz = ax / (B(1.f) + ax);
  const B t = ax * ax, t_lo = xsimd::select(ax < B(20.f), product_error(ax, ax, t), B(0.f));
  const B h = xsimd::exp(B(-0.5f) * t);
  const B k = K::erfc2(zz - B(0.4f)) * (B(1.f) - t_lo);  // erfc(|x|)·e^(x²)
  const auto small = ax < B(2.f / 3.f);
  const B tail = xsimd::select(ax < B(20.f), (k * h) * h, B(0.f));  // erfc(20) = 5e-176
  const B erfc_abs = xsimd::select(small, K::erfc3(zz), tail);
  const B erfc_x = xsimd::select(x < B(0.f), B(2.f) - erfc_abs, erfc_abs);
  phi = B(0.5f) * erfc_x * corr;
  const B pre = B(0.5f) * z * corr;
  return xsimd::select(small || x < B(0.f), pre * erfc_x, ((pre * k) * h) * h);
}

// GELU, erf form (torch's default): z·Φ(z); f'(z) = Φ(z) + z·φ(z), φ(z) =
// e^(−z²/2)/√(2π) with z² split into t + t_lo (FMA) so that e^(−t/2)(1 −
// t_lo/2) keeps the exponent's rounding out.
template <>
struct ActOp<ActKind::GELU> {
  float p;
  template <class B> B fwd(B z) const {
    B cdf;
    return xsimd::select(z == B(-std::numeric_limits<float>::infinity()), B(-0.f), gelu_erf(z, cdf));  // the limit
  }
  template <class B> B bwd(B g, B z) const {
    B cdf;
    gelu_erf(z, cdf);
    const B t = z * z, t_lo = xsimd::select(xsimd::abs(z) < B(20.f), product_error(z, z, t), B(0.f));
    const B pdf = xsimd::exp(B(-0.5f) * t) * xsimd::fnma(B(0.5f), t_lo, B(1.f)) * B(0.39894228f);
    return g * xsimd::fma(z, pdf, cdf);
  }
  static double cdf(double z) { return 0.5 * std::erfc(-z * 0.70710678118654752440); }
  double ref(double z) const { return z == -INFINITY ? -0.0 : z * cdf(z); }
  double ref_bwd(double g, double z) const { return g * (cdf(z) + z * std::exp(-0.5 * z * z) * 0.39894228040143267794); }
};

// v = 2·√(2/π)(z + 0.044715·z³) as v + v_lo (products split by FMA, the
// constants as two floats): σ(v) has relative condition |v| (87 where the
// result leaves the normal range), so v must be right to well under an ulp.
template <class B>
inline B gelu_tanh_arg(B z, B& v_lo) {
  const B c1(1.5957692f), c1_lo(-4.5340680e-08f), c3(0.071354814f), c3_lo(2.3988324e-09f);
  const B zs = xsimd::select(xsimd::abs(z) < B(1e4f), z, B(0.f));  // the rounding terms, finite
  const B t = z * z, t_lo = product_error(zs, zs, zs * zs);
  const B w = t * z, w_lo = product_error(xsimd::select(xsimd::abs(z) < B(1e4f), t, B(0.f)), zs, t * zs) + t_lo * zs;
  const B a = c1 * z, a_lo = product_error(c1, zs, c1 * zs) + c1_lo * zs;
  const B b = c3 * w, b_lo = product_error(c3, xsimd::select(xsimd::abs(z) < B(1e4f), w, B(0.f)), c3 * w) + xsimd::fma(c3, w_lo, c3_lo * w);
  const B v = a + b, bb = v - a;
  v_lo = ((a - (v - bb)) + (b - bb)) + (a_lo + b_lo);
  v_lo = xsimd::select(xsimd::abs(z) < B(1e4f), v_lo, B(0.f));  // z³ overflows: σ is 0 or 1 anyway
  return v;
}

// GELU, tanh approximation (torch's approximate='tanh'): z(1 + tanh(u))/2 =
// z·σ(2u), u = √(2/π)(z + 0.044715·z³), without 1 + tanh's cancellation;
// σ(v + v_lo) = σ(v)(1 + (1 − σ(v))·v_lo). f'(z) = σ + z·σ(1 − σ)·v'(z),
// v' = 2√(2/π)(1 + 3·0.044715·z²).
template <>
struct ActOp<ActKind::GELUTanh> {
  float p;
  template <class B> B fwd(B z) const {
    B v_lo, q;
    const B f = mul_sigmoid(z, gelu_tanh_arg(z, v_lo), q);
    const B inf(std::numeric_limits<float>::infinity());
    return xsimd::select(z == -inf, B(-0.f), xsimd::select(z == inf, z, xsimd::fma(f * q, v_lo, f)));  // the limits
  }
  template <class B> B bwd(B g, B z) const {
    B v_lo, q;
    const B s = mul_sigmoid(B(1.f), gelu_tanh_arg(z, v_lo), q);
    const B dv = xsimd::fma(B(0.21406444f), z * z, B(1.5957692f));
    return g * xsimd::fma(z * (s * q), dv, s);
  }
  static double sig(double z) {
    const double v = 1.5957691216057307 * (z + 0.044715 * z * z * z);
    return 1 / (1 + std::exp(-v));
  }
  double ref(double z) const { return z == -INFINITY ? -0.0 : z * sig(z); }
  double ref_bwd(double g, double z) const {
    const double s = sig(z);
    return g * (s + z * s * (1 - s) * 1.5957691216057307 * (1 + 3 * 0.044715 * z * z));
  }
};

// SiLU (swish): z·σ(z); f'(z) = σ(z)(1 + z(1 − σ(z))).
template <>
struct ActOp<ActKind::SiLU> {
  float p;
  template <class B> B fwd(B z) const {
    B q;
    return xsimd::select(z == B(-std::numeric_limits<float>::infinity()), B(-0.f), mul_sigmoid(z, z, q));  // the limit
  }
  template <class B> B bwd(B g, B z) const {
    B q;
    const B s = mul_sigmoid(B(1.f), z, q);
    return g * (s * xsimd::fma(z, q, B(1.f)));
  }
  double ref(double z) const { return z == -INFINITY ? -0.0 : z / (1 + std::exp(-z)); }
  double ref_bwd(double g, double z) const {
    const double s = 1 / (1 + std::exp(-z));
    return g * (s * (1 + z * (1 - s)));
  }
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
