#pragma once
// Optimiser update kernels, written once as templates over an xsimd batch
// type and compiled per ISA by optim_<isa>.cpp (anonymous namespace, as in
// activation_math.hpp).
//
// Data layout: param, grad, and the state (momentum buffer; Adam's m and v)
// are flat arrays of n floats; element i of each is read and written once.
// The operation order follows torch.optim's single-tensor code (ATen's
// add with alpha is one fused multiply-add; mul_ then add_ are two roundings).
#include <xsimd/xsimd.hpp>

#include <cstdint>

#include "kernels/common/simd.hpp"
#include "kernels/optim/optim_internal.hpp"

namespace nabla::kernels::detail {
namespace {

template <class B>
void sgd(int64_t n, float* param, const float* grad, float* momentum_buf, const SgdParams& hp, bool first_step) {
  const B lr(hp.lr), mom(hp.momentum), wd(hp.weight_decay);
  const bool decay = hp.weight_decay != 0.f, momentum = hp.momentum != 0.f;
  vec_loop<B>(n, [&](int64_t i, auto lanes) {
    const B p = load<B>(param + i, lanes);
    B g = load<B>(grad + i, lanes);
    if (decay) g = xsimd::fma(p, wd, g);  // grad.add(param, alpha=wd)
    if (momentum) {
      if (!first_step) g = load<B>(momentum_buf + i, lanes) * mom + g;  // buf.mul_(m).add_(g)
      store(momentum_buf + i, g, lanes);
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
  const bool decay = s.weight_decay != 0.f;
  vec_loop<B>(n, [&](int64_t i, auto lanes) {
    const B p = load<B>(param + i, lanes);
    B g = load<B>(grad + i, lanes);
    if (decay) g = xsimd::fma(p, wd, g);
    const B mo = load<B>(m + i, lanes);
    const B mn = small_w ? xsimd::fma(wv, g - mo, mo) : xsimd::fnma(g - mo, wv, g);
    const B vn = load<B>(v + i, lanes) * b2 + one_m_b2 * g * g;  // mul_(β2).addcmul_(g, g, 1 − β2)
    const B denom = xsimd::sqrt(vn) / bc2 + eps;
    store(m + i, mn, lanes);
    store(v + i, vn, lanes);
    store(param + i, xsimd::fnma(step, mn / denom, p), lanes);  // addcdiv_(m, denom, -step_size)
  });
}

}  // namespace
}  // namespace nabla::kernels::detail

// The function table of one ISA; used by optim_<isa>.cpp.
#define NABLA_OPTIM_KERNELS(ARCH) \
  ::nabla::kernels::detail::OptimKernels { &sgd<xsimd::batch<float, ARCH>>, &adam<xsimd::batch<float, ARCH>> }
