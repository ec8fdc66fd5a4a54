#pragma once
// The loss family's kernels, written once as templates over an xsimd batch
// type and compiled per ISA by loss_<isa>.cpp (anonymous namespace, as in
// activation_math.hpp).
//
// Data layouts (row-major, contiguous):
//   softmax_ce        logits, dlogits [rows, cols]; labels [rows] (class
//                     indices as floats) or targets [rows, cols]
//   element-wise      pred, targets, grad [n]
// Each returns the sum of its loss terms: per row (softmax_ce, in row order)
// or per block of 256 elements (block_sum in common/simd.hpp), in double.
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <limits>

#include "kernels/activation/activation_math.hpp"
#include "kernels/common/simd.hpp"
#include "kernels/loss/loss_internal.hpp"

namespace nabla::kernels::detail {
namespace {

// Per row, three passes over the row (it stays in L1):
//   1. m = max z (and Σy for probability targets);
//   2. e = e^(z − m) (exp_sub) into dlogits, s = Σe, lse = m + log s;
//   3. dlogits = (e/s·Σy − y)·scale, and for probability targets the loss
//      Σ y·((m − z) + log s); for class indices the loss is lse − z[label] and the
//      label's gradient is fixed up afterwards.
template <class B>
double softmax_ce(int64_t rows, int64_t cols, const float* logits, const float* labels,
                  const float* targets, float scale, float* dlogits) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const B vscale(scale);
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * cols;
    const float* y = targets ? targets + r * cols : nullptr;
    float* d = dlogits + r * cols;

    B vmax(kNegInf), vsumy(0.f);
    vec_loop<B>(cols, [&](int64_t j, auto lanes) {
      vmax = xsimd::max(vmax, load<B>(z + j, lanes, kNegInf));
      if (y) vsumy += load<B>(y + j, lanes);
    });
    const float m = hmax(vmax);
    const B vm(m);
    B vs(0.f);
    vec_loop<B>(cols, [&](int64_t j, auto lanes) {
      const B e = keep(exp_sub(load<B>(z + j, lanes), vm), lanes);
      vs += e;
      store(d + j, e, lanes);
    });
    const float s = xsimd::hadd(vs);
    const float log_s = xsimd::log(B(s)).get(0);
    const B vsv(s);
    if (labels) {
      const int64_t label = static_cast<int64_t>(labels[r]);
      const float e_label = d[label];
      vec_loop<B>(cols, [&](int64_t j, auto lanes) { store(d + j, load<B>(d + j, lanes) / vsv * vscale, lanes); });
      d[label] = (e_label / s - 1.f) * scale;
      total += (static_cast<double>(m) - z[label]) + log_s;
    } else {
      const B sumy(xsimd::hadd(vsumy));
      const B vlog_s(log_s);
      B vloss(0.f);
      vec_loop<B>(cols, [&](int64_t j, auto lanes) {
        const B yv = load<B>(y + j, lanes);
        // lse − z as (m − z) + log s: two non-negative terms, no cancellation.
        vloss += keep(yv * ((vm - load<B>(z + j, lanes)) + vlog_s), lanes);
        store(d + j, xsimd::fms(load<B>(d + j, lanes) / vsv, sumy, yv) * vscale, lanes);
      });
      total += xsimd::hadd(vloss);
    }
  }
  return total;
}

// Sigmoid + BCE from logits: max(z,0) − z·y + log(1 + e^{−|z|}); (σ(z) − y)·scale.
template <class B>
double bce_with_logits(int64_t n, const float* logits, const float* targets, float scale, float* dlogits) {
  const B vscale(scale);
  return block_sum<B>(n, [&](int64_t i, auto lanes) {
    const B z = load<B>(logits + i, lanes), y = load<B>(targets + i, lanes);
    const B term = xsimd::fnma(z, y, xsimd::max(z, B(0.f))) + xsimd::log1p(xsimd::exp(-xsimd::abs(z)));
    store(dlogits + i, (sigmoid_fwd(z) - y) * vscale, lanes);
    return keep(term, lanes);
  });
}

// BCE from probabilities, PyTorch's BCELoss: logs clamped at −100 (a NaN
// stays NaN), gradient (p − y) / max(p(1 − p), 1e-12)·scale.
template <class B>
double bce(int64_t n, const float* probs, const float* targets, float scale, float* dprobs) {
  const B vscale(scale), one(1.f), lo(-100.f), eps(1e-12f);
  auto clamp_log = [&](B x) {
    const B l = xsimd::log(x);
    return xsimd::select(l < lo, lo, l);
  };
  return block_sum<B>(n, [&](int64_t i, auto lanes) {
    const B p = load<B>(probs + i, lanes), y = load<B>(targets + i, lanes);
    const B q = one - p;
    const B term = -xsimd::fma(y, clamp_log(p), (one - y) * clamp_log(q));
    const B den = p * q;
    store(dprobs + i, (p - y) / xsimd::select(den < eps, eps, den) * vscale, lanes);
    return keep(term, lanes);
  });
}

// Mean squared error: (p − y)², gradient (p − y)·scale with scale = 2/N.
template <class B>
double mse(int64_t n, const float* pred, const float* targets, float scale, float* dpred) {
  const B vscale(scale);
  return block_sum<B>(n, [&](int64_t i, auto lanes) {
    const B diff = load<B>(pred + i, lanes) - load<B>(targets + i, lanes);
    store(dpred + i, diff * vscale, lanes);
    return keep(diff * diff, lanes);
  });
}

}  // namespace
}  // namespace nabla::kernels::detail

// The function table of one ISA; used by loss_<isa>.cpp.
#define NABLA_LOSS_KERNELS(ARCH)                                                              \
  ::nabla::kernels::detail::LossKernels {                                                     \
    &softmax_ce<xsimd::batch<float, ARCH>>, &bce_with_logits<xsimd::batch<float, ARCH>>,      \
        &bce<xsimd::batch<float, ARCH>>, &mse<xsimd::batch<float, ARCH>>                      \
  }
