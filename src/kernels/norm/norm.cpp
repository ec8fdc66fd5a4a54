// The normalisation dispatcher: checks arguments, picks the kernels of the
// active ISA and splits the work over oneTBB — the reductions by channel
// (each channel summed by one task, so the sums do not depend on the thread
// count), the element-wise passes by rows. Compiled with generic flags.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/common/names.hpp"
#include "kernels/common/parallel.hpp"
#include "kernels/norm/norm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/runtime/trace.hpp"

namespace nabla::kernels {
namespace detail {

const NormKernels& norm_kernels(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return norm_kernels_avx512();
    case Isa::Avx2: return norm_kernels_avx2();
    case Isa::Generic: return norm_kernels_sse2();
  }
  return norm_kernels_sse2();
}

}  // namespace detail

namespace {

void check_shape(const NormShape& s, const char* fn) {
  if (s.n < 1 || s.c < 1 || s.hw < 1)
    throw Error(std::string(fn) + ": invalid shape n=" + std::to_string(s.n) + " c=" + std::to_string(s.c) +
                " hw=" + std::to_string(s.hw));
}

// fn(c0, c1) over the channels, by channel blocks in parallel for large tensors.
template <class F>
void over_channels(const NormShape& s, F&& fn) {
  if (s.numel() < detail::kParallelMinMemory || num_threads() == 1 || s.c == 1) {
    fn(int64_t{0}, s.c);
    return;
  }
  const int64_t grain = s.hw > 1 ? 1 : 64;
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, s.c, grain),
                    [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); });
}

// fn(r0, r1) over the rows of the element-wise passes ([n·c, hw] or [n, c]).
template <class F>
void over_rows(const NormShape& s, F&& fn) {
  const int64_t rows = s.hw > 1 ? s.n * s.c : s.n, len = s.hw > 1 ? s.hw : s.c;
  const int64_t min_rows = detail::kParallelMinMemory / len + 1, grain = (int64_t{1} << 15) / len + 1;
  detail::parallel_ranges(rows, min_rows, grain, fn);
}

std::string shape_text(const NormShape& s) {
  return std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw);
}

}  // namespace

void batchnorm_stats(const NormShape& s, const float* x, double* mean, double* var) {
  check_shape(s, "batchnorm_stats");
  const auto& k = detail::norm_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(s.numel());
    return trace::Call{detail::variant_name("batchnorm_stats", active_isa()), shape_text(s), 3 * e, 4 * e};
  });
  over_channels(s, [&](int64_t c0, int64_t c1) { k.stats(s, c0, c1, x, mean, var); });
}

void batchnorm_apply(const NormShape& s, const float* x, const float* scale, const float* shift, Activation act,
                     float* y, const float* residual) {
  check_shape(s, "batchnorm_apply");
  const auto& k = detail::norm_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(s.numel());
    // "batchnorm", "batchnorm_relu", "batchnorm_add", "batchnorm_add_relu"
    std::string op = residual ? "batchnorm_add" : "batchnorm";
    if (detail::activation_op(act, false, false) != "identity") op.append("_").append(activation_name(act));
    return trace::Call{detail::variant_name(op, active_isa()), shape_text(s),
                       (2 + (residual ? 1 : 0) + act.info().fwd_flops) * e, (residual ? 12 : 8) * e};
  });
  over_rows(s, [&](int64_t r0, int64_t r1) { k.apply(s, r0, r1, x, scale, shift, act, residual, y); });
}

bool sign_derivative(Activation act) {
  return act.kind == ActKind::ReLU || (act.kind == ActKind::LeakyReLU && act.param >= 0.f);
}

namespace {

// The backward passes' source of act's derivative: y, or (y null) the sign
// of x·scale + shift, allowed for sign_derivative() kinds only.
void check_derivative_source(const char* fn, const float* y, Activation act, const float* scale,
                             const float* shift) {
  if (y != nullptr || act.is_none()) return;
  if (!sign_derivative(act))
    throw Error(std::string(fn) + ": y is null, but " + activation_name(act) +
                "'s derivative needs the output (only ReLU and LeakyReLU with a slope >= 0 take it from the sign of "
                "x*scale + shift)");
  if (scale == nullptr || shift == nullptr)
    throw Error(std::string(fn) + ": y is null, and so is scale or shift (the derivative's sign comes from them)");
}

}  // namespace

void batchnorm_backward_reduce(const NormShape& s, const float* dy, const float* y, Activation act, const float* x,
                               const float* mean, double* sum_dz, double* sum_dzx, const float* scale,
                               const float* shift) {
  check_shape(s, "batchnorm_backward_reduce");
  check_derivative_source("batchnorm_backward_reduce", y, act, scale, shift);
  const auto& k = detail::norm_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(s.numel());
    return trace::Call{detail::variant_name("batchnorm_bwd_reduce", active_isa()), shape_text(s),
                       (4 + act.info().bwd_flops) * e, (act.is_none() || y == nullptr ? 8 : 12) * e};
  });
  over_channels(s, [&](int64_t c0, int64_t c1) {
    k.bwd_reduce(s, c0, c1, dy, y, act, x, mean, scale, shift, sum_dz, sum_dzx);
  });
}

void batchnorm_backward_apply(const NormShape& s, const float* dy, const float* y, Activation act, const float* x,
                              const float* mean, const float* k_dz, const float* k_x, const float* k_0, float* dx,
                              const float* scale, const float* shift) {
  check_shape(s, "batchnorm_backward_apply");
  check_derivative_source("batchnorm_backward_apply", y, act, scale, shift);
  const auto& k = detail::norm_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(s.numel());
    return trace::Call{detail::variant_name("batchnorm_bwd", active_isa()), shape_text(s),
                       (5 + act.info().bwd_flops) * e, (act.is_none() || y == nullptr ? 12 : 16) * e};
  });
  over_rows(s, [&](int64_t r0, int64_t r1) {
    k.bwd_apply(s, r0, r1, dy, y, act, x, mean, scale, shift, k_dz, k_x, k_0, dx);
  });
}

uint64_t dropout_key(uint64_t seed, uint64_t counter) {
  // SplitMix64 of the seed, then of the counter mixed in.
  auto mix = [](uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ counter);
}

bool dropout_keep(uint64_t key, int64_t i, float p) {
  return detail::dropout_bits(key, static_cast<uint64_t>(i)) >= detail::dropout_threshold(p);
}

void dropout(int64_t n, const float* src, float p, uint64_t key, float* dst) {
  if (!(p >= 0.f && p < 1.f)) throw Error("dropout: p = " + std::to_string(p) + " is not in [0, 1)");
  if (n < 0 || n >= (int64_t{1} << 32)) throw Error("dropout: size " + std::to_string(n) + " is not in [0, 2^32)");
  if (n == 0) return;
  const auto& k = detail::norm_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name("dropout", active_isa()), std::to_string(n), 2 * e, 8 * e};
  });
  const uint32_t t = detail::dropout_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - static_cast<double>(p)));
  // Pieces start at multiples of 32 (a block of the mask layout).
  detail::parallel_ranges((n + 31) / 32, detail::kParallelMinMemory / 32, int64_t{1} << 11, [&](int64_t b0, int64_t b1) {
    k.dropout(b0 * 32, std::min(b1 * 32, n), src, t, scale, key, dst);
  });
}

}  // namespace nabla::kernels
