// The loss family's dispatcher: validates arguments, picks the kernels of
// the active ISA and splits large inputs into fixed blocks over oneTBB
// (common/parallel.hpp), summing the blocks' losses in block order.
// Compiled with generic flags: nothing here touches SIMD.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernels/common/dispatch.hpp"
#include "kernels/common/names.hpp"
#include "nabla/runtime/trace.hpp"
#include "kernels/common/parallel.hpp"
#include "kernels/loss/loss_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/loss.hpp"

namespace nabla::kernels {
namespace detail {

const LossKernels& loss_kernels(Isa isa) {
  return for_isa(isa, loss_kernels_avx512, loss_kernels_avx2, loss_kernels_sse2);
}

}  // namespace detail

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Fixed blocks of at least this many elements (a multiple of block_sum's 256).
constexpr int64_t kLossBlock = int64_t{1} << 14;

// `where` builds the message context only on failure (no allocation on the hot path).
template <class Where>
void check_ptrs(const char* fn, const Where& where, const void* a, const char* an, const void* b,
                const char* bn, const void* c, const char* cn) {
  for (auto [p, name] : {std::pair{a, an}, std::pair{b, bn}, std::pair{c, cn}})
    if (!p) throw Error(std::string(fn) + ": " + name + " is null" + where());
}

float softmax_ce_common(const char* fn, int64_t n, int64_t c, const float* logits, const float* labels,
                        const float* targets, float* dlogits) {
  const auto where = [&] { return std::string(" (n=") + std::to_string(n) + ", c=" + std::to_string(c) + ")"; };
  if (n < 0 || c < 0) throw Error(std::string(fn) + ": negative size" + where());
  if (n == 0) return kNaN;
  if (c == 0) throw Error(std::string(fn) + ": no classes" + where());
  check_ptrs(fn, where, logits, "logits", labels ? static_cast<const void*>(labels) : targets,
             labels ? "labels" : "targets", dlogits, "dlogits");
  if (labels) {
    for (int64_t r = 0; r < n; ++r) {
      const float l = labels[r];
      if (!(l >= 0 && l < static_cast<float>(c) && l == std::floor(l)))
        throw Error(std::string(fn) + ": labels[" + std::to_string(r) + "]=" + std::to_string(l) +
                    " is not a class index in [0, " + std::to_string(c) + ")" + where());
    }
  }
  const auto& k = detail::loss_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n * c);
    return trace::Call{detail::variant_name("softmax_ce", active_isa()), std::to_string(n) + "x" + std::to_string(c),
                       6 * e, (labels ? 8 : 12) * e};
  });
  const float scale = static_cast<float>(1.0 / static_cast<double>(n));
  const int64_t min_rows = std::max<int64_t>(1, kLossBlock / c);
  const double sum = detail::parallel_block_sum(
      n, min_rows, 1, std::max<int64_t>(2, detail::kParallelMinCompute / c), [&](int64_t r0, int64_t r1) {
        return k.softmax_ce(r1 - r0, c, logits + r0 * c, labels ? labels + r0 : nullptr,
                            targets ? targets + r0 * c : nullptr, scale, dlogits + r0 * c);
      });
  return static_cast<float>(sum / static_cast<double>(n));
}

// The element-wise losses: mean of the terms; gradient scale = mult/n.
template <class Kernel>
float eltwise_loss(const char* fn, int64_t n, const float* pred, const float* targets, float* grad,
                   double mult, Kernel kernel) {
  const auto where = [&] { return std::string(" (n=") + std::to_string(n) + ")"; };
  if (n < 0) throw Error(std::string(fn) + ": negative size" + where());
  if (n == 0) return kNaN;
  check_ptrs(fn, where, pred, "prediction", targets, "targets", grad, "gradient");
  const auto& k = detail::loss_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name(fn, active_isa()), std::to_string(n), 6 * e, 12 * e};
  });
  const float scale = static_cast<float>(mult / static_cast<double>(n));
  const double sum = detail::parallel_block_sum(
      n, kLossBlock, kLossBlock, detail::kParallelMinCompute,
      [&](int64_t i0, int64_t i1) { return (k.*kernel)(i1 - i0, pred + i0, targets + i0, scale, grad + i0); });
  return static_cast<float>(sum / static_cast<double>(n));
}

}  // namespace

float softmax_cross_entropy(int64_t n, int64_t c, const float* logits, const float* labels, float* dlogits) {
  if (!labels && n > 0) throw Error("softmax_cross_entropy: labels is null (n=" + std::to_string(n) + ")");
  return softmax_ce_common("softmax_cross_entropy", n, c, logits, labels, nullptr, dlogits);
}

float softmax_cross_entropy_probs(int64_t n, int64_t c, const float* logits, const float* targets,
                                  float* dlogits) {
  return softmax_ce_common("softmax_cross_entropy_probs", n, c, logits, nullptr, targets, dlogits);
}

float bce_with_logits(int64_t n, const float* logits, const float* targets, float* dlogits) {
  return eltwise_loss("bce_with_logits", n, logits, targets, dlogits, 1.0, &detail::LossKernels::bce_with_logits);
}

float bce(int64_t n, const float* probs, const float* targets, float* dprobs) {
  return eltwise_loss("bce", n, probs, targets, dprobs, 1.0, &detail::LossKernels::bce);
}

float mse(int64_t n, const float* pred, const float* targets, float* dpred) {
  return eltwise_loss("mse", n, pred, targets, dpred, 2.0, &detail::LossKernels::mse);
}

}  // namespace nabla::kernels
