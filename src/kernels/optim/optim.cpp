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
  if (n == 0) return;
  require(param && grad, fn, [&] { return std::string("null param or grad (n=") + std::to_string(n) + ")"; });
  require(momentum_buf || hp.momentum == 0, fn,
          [&] { return std::string("momentum ") + std::to_string(hp.momentum) + " needs a momentum buffer (n=" + std::to_string(n) + ")"; });
  const auto& k = detail::optim_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n), mom = momentum_buf && hp.momentum != 0;
    return trace::Call{detail::variant_name(mom ? "sgd_momentum" : "sgd", active_isa()), std::to_string(n),
                       (mom ? 6 : 3) * e, (mom ? 20 : 12) * e};
  });
  detail::parallel_ranges(n, detail::kParallelMinMemory, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.sgd(i1 - i0, param + i0, grad + i0, momentum_buf ? momentum_buf + i0 : nullptr, hp, first_step);
  });
}

void adam_update(int64_t n, float* param, const float* grad, float* m, float* v, const AdamParams& hp,
                 int64_t step) {
  const char* fn = "adam_update";
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
  const detail::AdamStep s{hp.beta1, hp.beta2, hp.eps, hp.weight_decay, static_cast<float>(hp.lr / bc1),
                           static_cast<float>(std::sqrt(bc2))};
  const auto& k = detail::optim_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name("adam", active_isa()), std::to_string(n), 12 * e, 28 * e};
  });
  detail::parallel_ranges(n, detail::kParallelMinMemory / 2, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.adam(i1 - i0, param + i0, grad + i0, m + i0, v + i0, s);
  });
}

}  // namespace nabla::kernels
