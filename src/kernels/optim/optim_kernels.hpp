#pragma once
// Optimiser update kernels, written once as templates over an xsimd batch
// type and compiled per ISA by optim_<isa>.cpp (anonymous namespace, as in
// activation_math.hpp).
//
// Data layout: param, grad, and the state (momentum buffer; Adam's m and v;
// RMSprop's square_avg)
// are flat arrays of n floats; element i of each is read and written once.
// The operation order follows torch.optim's single-tensor code (ATen's
// add with alpha is one fused multiply-add; mul_ then add_ are two roundings).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "kernels/common/simd.hpp"
#include "kernels/optim/optim_internal.hpp"

namespace nabla::kernels::detail {
namespace {

// x, opaque to the compiler: a product passed through it is rounded on its
// own and never contracted into a fused multiply-add. Where a sum has two
// products (a·b + c·d), GCC contracts one of them, and may pick a different
// one in the full-vector and the partial-vector instantiations of a loop
// body: the same element then gets a different result depending on where a
// thread's range ends — results that depend on the thread count. Every
// kernel writes such sums as rounded(a·b) + rounded(c·d), or as an explicit
// fma, so each element's result is the same wherever it sits.
template <class B>
inline B rounded(B x) {
  typename B::register_type r = x;
  asm("" : "+v"(r));
  return B(r);
}

template <class B>
void sgd(int64_t n, float* param, const float* grad, float* momentum_buf, const SgdParams& hp, bool first_step) {
  const B lr(hp.lr), mom(hp.momentum), wd(hp.weight_decay);
  const bool decay = hp.weight_decay != 0.f, momentum = hp.momentum != 0.f, nesterov = momentum && hp.nesterov;
  vec_loop<B>(n, [&](int64_t i, auto lanes) {
    const B p = load<B>(param + i, lanes);
    B g = load<B>(grad + i, lanes);
    if (decay) g = xsimd::fma(p, wd, g);  // grad.add(param, alpha=wd)
    if (momentum) {
      const B buf = first_step ? g : load<B>(momentum_buf + i, lanes) * mom + g;  // buf.mul_(m).add_(g)
      store(momentum_buf + i, buf, lanes);
      g = nesterov ? xsimd::fma(buf, mom, g) : buf;  // g.add(buf, alpha=m)
    }
    store(param + i, xsimd::fnma(lr, g, p), lanes);  // param.add_(g, alpha=-lr)
  });
}

template <class B>
void adam(int64_t n, float* param, const float* grad, float* m, float* v, const AdamStep& s) {
  const B wd(s.weight_decay), b2(s.beta2), one_m_b2(1.f - s.beta2), eps(s.eps), step(s.step_size),
      bc2(s.bc2_sqrt);
  // exp_avg.lerp_(grad, w), w = 1 − β1: ATen's lerp is m + w(g − m) for
  // w < 0.5, g − (g − m)(1 − w) otherwise.
  const float w = 1.f - s.beta1;
  const bool small_w = w < 0.5f;
  const B wv(small_w ? w : 1.f - w);
  const bool decay = s.weight_decay != 0.f, decoupled = s.decoupled;
  const B scale(s.param_scale);
  vec_loop<B>(n, [&](int64_t i, auto lanes) {
    B p = load<B>(param + i, lanes);
    if (decoupled && s.param_scale != 1.f) p = rounded(p * scale);  // AdamW: param.mul_(1 - lr·wd)
    B g = load<B>(grad + i, lanes);
    if (decay) g = xsimd::fma(p, wd, g);
    const B mo = load<B>(m + i, lanes);
    const B mn = small_w ? xsimd::fma(wv, g - mo, mo) : xsimd::fnma(g - mo, wv, g);
    // mul_(β2).addcmul_(g, g, 1 − β2), both products rounded (see rounded())
    const B vn = rounded(load<B>(v + i, lanes) * b2) + rounded(one_m_b2 * g * g);
    const B denom = xsimd::sqrt(vn) / bc2 + eps;
    store(m + i, mn, lanes);
    store(v + i, vn, lanes);
    store(param + i, xsimd::fnma(step, mn / denom, p), lanes);  // addcdiv_(m, denom, -step_size)
  });
}

template <class B>
void rmsprop(int64_t n, float* param, const float* grad, float* square_avg, float* momentum_buf,
             const RmspropParams& hp) {
  const B lr(hp.lr), alpha(hp.alpha), one_m_alpha(1.f - hp.alpha), eps(hp.eps), wd(hp.weight_decay),
      mom(hp.momentum);
  const bool decay = hp.weight_decay != 0.f, momentum = hp.momentum != 0.f;
  vec_loop<B>(n, [&](int64_t i, auto lanes) {
    const B p = load<B>(param + i, lanes);
    B g = load<B>(grad + i, lanes);
    if (decay) g = xsimd::fma(p, wd, g);  // grad.add(param, alpha=wd)
    const B sa = rounded(load<B>(square_avg + i, lanes) * alpha) + rounded(one_m_alpha * g * g);  // mul_(α).addcmul_(g, g, 1 − α)
    store(square_avg + i, sa, lanes);
    const B avg = xsimd::sqrt(sa) + eps;  // square_avg.sqrt().add_(eps)
    if (momentum) {
      const B buf = rounded(load<B>(momentum_buf + i, lanes) * mom) + g / avg;  // buf.mul_(m).addcdiv_(g, avg)
      store(momentum_buf + i, buf, lanes);
      store(param + i, xsimd::fnma(lr, buf, p), lanes);  // param.add_(buf, alpha=-lr)
    } else {
      store(param + i, p - rounded(lr * g) / avg, lanes);  // param.addcdiv_(g, avg, value=-lr)
    }
  });
}

template <class B>
double sum_squares(int64_t n, const float* src) {
  return block_sum<B>(n, [&](int64_t i, auto lanes) {
    const B x = load<B>(src + i, lanes);  // lanes past n load as 0
    return x * x;
  });
}

template <class B>
void scale(int64_t n, float* dst, float s) {
  const B sv(s);
  vec_loop<B>(n, [&](int64_t i, auto lanes) { store(dst + i, load<B>(dst + i, lanes) * sv, lanes); });
}

}  // namespace
}  // namespace nabla::kernels::detail

// The function table of one ISA; used by optim_<isa>.cpp.
#define NABLA_OPTIM_KERNELS(ARCH) \
  ::nabla::kernels::detail::OptimKernels {                                                            \
    &sgd<xsimd::batch<float, ARCH>>, &adam<xsimd::batch<float, ARCH>>, &rmsprop<xsimd::batch<float, ARCH>>, \
        &sum_squares<xsimd::batch<float, ARCH>>, &scale<xsimd::batch<float, ARCH>>                          \
  }
