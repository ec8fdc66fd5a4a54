// The optimiser dispatcher: validates hyper-parameters as torch.optim does,
// computes the per-step scalars in double, picks the kernels of the active
// ISA and splits large arrays over oneTBB (common/parallel.hpp). Compiled
// with generic flags: nothing here touches SIMD.
#include <cmath>
#include <string>

#include "kernels/common/dispatch.hpp"
#include "kernels/common/names.hpp"
#include "nabla/runtime/trace.hpp"
#include "kernels/common/parallel.hpp"
#include "kernels/optim/optim_internal.hpp"
#include "nabla/error.hpp"

namespace nabla::kernels {
namespace detail {

const OptimKernels& optim_kernels(Isa isa) {
  return for_isa(isa, optim_kernels_avx512, optim_kernels_avx2, optim_kernels_sse2);
}

}  // namespace detail

namespace {

// The update kernels run over threads from 128 Ki elements, well below the
// 1 Mi of a streaming kernel (common/parallel.hpp): a parameter's gradient
// was just written by the backward GEMM on every thread, and a serial
// update on the calling thread reads the other cores' parts out of their
// caches. Adam over the CNN's 401,408 dense weights, 2 threads (Zen 5,
// `nabla prof --model cnn`): 368 → 180–224 µs in the step; alone (`nabla
// prof eltwise --shape 401408`): 103 → 54 µs.
constexpr int64_t kParallelMinUpdate = int64_t{1} << 17;

// `what` builds the message only on failure (no allocation on the hot path).
template <class What>
void require(bool ok, const char* fn, const What& what) {
  if (!ok) throw Error(std::string(fn) + ": " + what());
}

}  // namespace

void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf, const SgdParams& hp,
                bool first_step) {
  const char* fn = "sgd_update";
  require(n >= 0, fn, [&] { return std::string("negative size n=") + std::to_string(n); });
  require(hp.lr >= 0, fn, [&] { return std::string("invalid learning rate ") + std::to_string(hp.lr); });
  require(hp.momentum >= 0, fn, [&] { return std::string("invalid momentum ") + std::to_string(hp.momentum); });
  require(hp.weight_decay >= 0, fn, [&] { return std::string("invalid weight_decay ") + std::to_string(hp.weight_decay); });
  require(!hp.nesterov || hp.momentum > 0, fn,
          [&] { return std::string("Nesterov momentum needs momentum > 0 (momentum ") + std::to_string(hp.momentum) + ")"; });
  if (n == 0) return;
  require(param && grad, fn, [&] { return std::string("null param or grad (n=") + std::to_string(n) + ")"; });
  require(momentum_buf || hp.momentum == 0, fn,
          [&] { return std::string("momentum ") + std::to_string(hp.momentum) + " needs a momentum buffer (n=" + std::to_string(n) + ")"; });
  const auto& k = detail::optim_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n), mom = momentum_buf && hp.momentum != 0;
    return trace::Call{detail::variant_name(mom ? (hp.nesterov ? "sgd_nesterov" : "sgd_momentum") : "sgd", active_isa()),
                       std::to_string(n),
                       (mom ? 6 : 3) * e, (mom ? 20 : 12) * e};
  });
  detail::parallel_ranges(n, kParallelMinUpdate, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.sgd(i1 - i0, param + i0, grad + i0, momentum_buf ? momentum_buf + i0 : nullptr, hp, first_step);
  });
}

namespace {

// Adam and AdamW: the same checks and kernel; AdamW scales the parameters
// by 1 − lr·weight_decay first instead of adding the decay to the gradient.
void adam_common(const char* fn, bool decoupled, int64_t n, float* param, const float* grad, float* m, float* v,
                 const AdamParams& hp, int64_t step) {
  require(n >= 0, fn, [&] { return std::string("negative size n=") + std::to_string(n); });
  require(hp.lr >= 0, fn, [&] { return std::string("invalid learning rate ") + std::to_string(hp.lr); });
  require(hp.beta1 >= 0 && hp.beta1 < 1, fn, [&] { return std::string("invalid beta1 ") + std::to_string(hp.beta1) + " (need [0, 1))"; });
  require(hp.beta2 >= 0 && hp.beta2 < 1, fn, [&] { return std::string("invalid beta2 ") + std::to_string(hp.beta2) + " (need [0, 1))"; });
  require(hp.eps >= 0, fn, [&] { return std::string("invalid eps ") + std::to_string(hp.eps); });
  require(hp.weight_decay >= 0, fn, [&] { return std::string("invalid weight_decay ") + std::to_string(hp.weight_decay); });
  require(step >= 1, fn, [&] { return std::string("step ") + std::to_string(step) + " (the first step is 1)"; });
  if (n == 0) return;
  require(param && grad && m && v, fn, [&] { return std::string("null param, grad, m or v (n=") + std::to_string(n) + ")"; });
  // As torch.optim.Adam: bias corrections in double, from the float β's.
  const double bc1 = 1 - std::pow(static_cast<double>(hp.beta1), static_cast<double>(step));
  const double bc2 = 1 - std::pow(static_cast<double>(hp.beta2), static_cast<double>(step));
  detail::AdamStep s{hp.beta1, hp.beta2, hp.eps, decoupled ? 0.f : hp.weight_decay, static_cast<float>(hp.lr / bc1),
                     static_cast<float>(std::sqrt(bc2))};
  if (decoupled) {  // torch.optim.AdamW: param.mul_(1 - lr * weight_decay), the factor in double
    s.param_scale = static_cast<float>(1.0 - static_cast<double>(hp.lr) * static_cast<double>(hp.weight_decay));
    s.decoupled = true;
  }
  const auto& k = detail::optim_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name(decoupled ? "adamw" : "adam", active_isa()), std::to_string(n),
                       (decoupled ? 13 : 12) * e, 28 * e};
  });
  detail::parallel_ranges(n, kParallelMinUpdate, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.adam(i1 - i0, param + i0, grad + i0, m + i0, v + i0, s);
  });
}

}  // namespace

void adam_update(int64_t n, float* param, const float* grad, float* m, float* v, const AdamParams& hp,
                 int64_t step) {
  adam_common("adam_update", false, n, param, grad, m, v, hp, step);
}

void adamw_update(int64_t n, float* param, const float* grad, float* m, float* v, const AdamParams& hp,
                  int64_t step) {
  adam_common("adamw_update", true, n, param, grad, m, v, hp, step);
}

void rmsprop_update(int64_t n, float* param, const float* grad, float* square_avg, float* momentum_buf,
                    const RmspropParams& hp) {
  const char* fn = "rmsprop_update";
  require(n >= 0, fn, [&] { return std::string("negative size n=") + std::to_string(n); });
  require(hp.lr >= 0, fn, [&] { return std::string("invalid learning rate ") + std::to_string(hp.lr); });
  require(hp.alpha >= 0, fn, [&] { return std::string("invalid alpha ") + std::to_string(hp.alpha); });
  require(hp.eps >= 0, fn, [&] { return std::string("invalid eps ") + std::to_string(hp.eps); });
  require(hp.weight_decay >= 0, fn, [&] { return std::string("invalid weight_decay ") + std::to_string(hp.weight_decay); });
  require(hp.momentum >= 0, fn, [&] { return std::string("invalid momentum ") + std::to_string(hp.momentum); });
  if (n == 0) return;
  require(param && grad && square_avg, fn,
          [&] { return std::string("null param, grad or square_avg (n=") + std::to_string(n) + ")"; });
  require(momentum_buf || hp.momentum == 0, fn,
          [&] { return std::string("momentum ") + std::to_string(hp.momentum) + " needs a momentum buffer (n=" + std::to_string(n) + ")"; });
  const auto& k = detail::optim_kernels(active_isa());
  const bool mom = hp.momentum != 0;
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name(mom ? "rmsprop_momentum" : "rmsprop", active_isa()), std::to_string(n),
                       (mom ? 10 : 8) * e, (mom ? 24 : 16) * e};
  });
  detail::parallel_ranges(n, kParallelMinUpdate, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.rmsprop(i1 - i0, param + i0, grad + i0, square_avg + i0, mom ? momentum_buf + i0 : nullptr, hp);
  });
}

double sum_squares(int64_t n, const float* src) {
  const char* fn = "sum_squares";
  require(n >= 0, fn, [&] { return std::string("negative size n=") + std::to_string(n); });
  if (n == 0) return 0;
  require(src != nullptr, fn, [&] { return std::string("null src (n=") + std::to_string(n) + ")"; });
  const auto& k = detail::optim_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name("sum_squares", active_isa()), std::to_string(n), 2 * e, 4 * e};
  });
  // Blocks of at least 64 Ki elements, boundaries on the SIMD loop's own
  // blocks (kSumBlock = 256), fixed by n alone.
  return detail::parallel_block_sum(n, int64_t{1} << 16, 256, detail::kParallelMinMemory,
                                    [&](int64_t i0, int64_t i1) { return k.sum_squares(i1 - i0, src + i0); });
}

void scale(int64_t n, float* dst, float s) {
  const char* fn = "scale";
  require(n >= 0, fn, [&] { return std::string("negative size n=") + std::to_string(n); });
  if (n == 0) return;
  require(dst != nullptr, fn, [&] { return std::string("null dst (n=") + std::to_string(n) + ")"; });
  const auto& k = detail::optim_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name("scale", active_isa()), std::to_string(n), e, 8 * e};
  });
  detail::parallel_ranges(n, detail::kParallelMinMemory, int64_t{1} << 16,
                          [&](int64_t i0, int64_t i1) { k.scale(i1 - i0, dst + i0, s); });
}

}  // namespace nabla::kernels
