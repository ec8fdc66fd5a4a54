// The activation family's dispatcher: validates arguments, picks the
// kernels of the active ISA and splits large inputs over oneTBB
// (common/parallel.hpp). Compiled with generic flags: nothing here touches
// SIMD.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "kernels/common/dispatch.hpp"
#include "kernels/common/names.hpp"
#include "nabla/runtime/trace.hpp"
#include "kernels/activation/activation_internal.hpp"
#include "kernels/common/parallel.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"

namespace nabla::kernels {
namespace detail {

const ActivationKernels& activation_kernels(Isa isa) {
  return for_isa(isa, activation_kernels_avx512, activation_kernels_avx2, activation_kernels_sse2);
}

}  // namespace detail

namespace {

using detail::kParallelMinCompute;
using detail::kParallelMinMemory;

const char* bias_name(BiasKind k) {
  switch (k) {
    case BiasKind::None: return "none";
    case BiasKind::PerRow: return "per-row";
    case BiasKind::PerCol: return "per-column";
  }
  return "?";
}

std::string dims(int64_t batch, int64_t rows, int64_t cols) {
  return " (batch=" + std::to_string(batch) + ", rows=" + std::to_string(rows) +
         ", cols=" + std::to_string(cols) + ")";
}

void check_sizes(const char* fn, int64_t batch, int64_t rows, int64_t cols) {
  if (batch < 0 || rows < 0 || cols < 0)
    throw Error(std::string(fn) + ": negative size" + dims(batch, rows, cols));
}

// `where` builds the message context only on failure (no allocation on the hot path).
template <class Where>
void check_ptr(const char* fn, const void* p, const char* what, const Where& where) {
  if (!p) throw Error(std::string(fn) + ": " + what + " is null" + where());
}

int64_t min_parallel(Activation f) { return f.info().transcendental ? kParallelMinCompute : kParallelMinMemory; }

}  // namespace

const char* activation_name(Activation a) { return a.info().name.data(); }

std::string activation_label(Activation a) {
  std::string s(a.info().name);
  if (has_param(a.kind)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %g", static_cast<double>(a.param));
    s += buf;
  }
  return s;
}

const ActivationInfo* find_activation(std::string_view name) {
  for (const ActivationInfo& row : kActivations)
    if (row.name == name) return &row;
  return nullptr;
}

void check_activation(Activation a, const char* where) {
  if (static_cast<size_t>(a.kind) >= kActivations.size())
    throw Error(std::string(where) + ": activation kind " + std::to_string(static_cast<int>(a.kind)) +
                " is not in the activation table");
  const ActivationInfo& row = a.info();
  if (has_param(a.kind) && !(std::isfinite(a.param) && a.param >= row.param_min))
    throw Error(std::string(where) + ": " + std::string(row.layer) + "'s " + std::string(row.param) + " is " +
                std::to_string(a.param) + "; it must be a finite number >= " + std::to_string(row.param_min));
}

void activation_forward(Activation f, int64_t batch, int64_t rows, int64_t cols, const float* src,
                        BiasKind bias_kind, const float* bias, float* dst) {
  const char* fn = "activation_forward";
  check_sizes(fn, batch, rows, cols);
  const int64_t total = batch * rows * cols;
  if (total == 0) return;
  const auto where = [&] { return dims(batch, rows, cols) + " " + activation_label(f) + ", bias " + bias_name(bias_kind); };
  check_activation(f, fn);
  check_ptr(fn, src, "src", where);
  check_ptr(fn, dst, "dst", where);
  if (bias_kind != BiasKind::None) check_ptr(fn, bias, "bias", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double n = static_cast<double>(total), biased = bias_kind != BiasKind::None;
    const double per = f.info().fwd_flops + biased;
    return trace::Call{detail::variant_name(detail::activation_op(f, biased, false), active_isa()),
                       std::to_string(total), per * n, 8 * n};
  });

  // The flat range [0, total) is split freely; each piece is cut at row
  // ends into runs that share one bias pattern.
  detail::parallel_ranges(total, min_parallel(f), int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    if (bias_kind == BiasKind::None) {
      k.forward(f, 1, i1 - i0, src + i0, BiasKind::None, nullptr, dst + i0);
      return;
    }
    int64_t i = i0;
    while (i < i1) {
      const int64_t row = i / cols, j = i % cols;  // row of the [batch·rows, cols] view
      const float* b = bias_kind == BiasKind::PerRow ? bias + row % rows : bias + j;
      if (j != 0 || i1 - i < cols) {  // a partial row
        const int64_t len = std::min(cols - j, i1 - i);
        k.forward(f, 1, len, src + i, bias_kind, b, dst + i);
        i += len;
      } else {  // whole rows, up to the end of this batch item (PerRow) or the piece
        int64_t nrows = (i1 - i) / cols;
        if (bias_kind == BiasKind::PerRow) nrows = std::min(nrows, rows - row % rows);
        k.forward(f, nrows, cols, src + i, bias_kind, b, dst + i);
        i += nrows * cols;
      }
    }
  });
}

void activation_backward(Activation f, int64_t n, const float* dst, const float* diff_dst,
                         float* diff_src) {
  const char* fn = "activation_backward";
  if (n < 0) throw Error(std::string(fn) + ": negative size n=" + std::to_string(n));
  if (n == 0) return;
  const auto where = [&] { return std::string(" (n=") + std::to_string(n) + ", " + activation_label(f) + ")"; };
  check_activation(f, fn);
  if (!f.is_none()) check_ptr(fn, dst, "dst", where);
  check_ptr(fn, diff_dst, "diff_dst", where);
  check_ptr(fn, diff_src, "diff_src", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name(detail::activation_op(f, false, true), active_isa()), std::to_string(n),
                       f.info().bwd_flops * e,
                       (f == Activation::None ? 8 : 12) * e};
  });
  detail::parallel_ranges(n, kParallelMinMemory, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.backward(f, i1 - i0, dst ? dst + i0 : nullptr, diff_dst + i0, diff_src + i0);
  });
}

void add_activation_forward(Activation f, int64_t n, const float* a, const float* b, float* dst) {
  const char* fn = "add_activation_forward";
  if (n < 0) throw Error(std::string(fn) + ": negative size n=" + std::to_string(n));
  if (n == 0) return;
  const auto where = [&] { return std::string(" (n=") + std::to_string(n) + ", " + activation_label(f) + ")"; };
  check_activation(f, fn);
  check_ptr(fn, a, "a", where);
  check_ptr(fn, b, "b", where);
  check_ptr(fn, dst, "dst", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name(f.is_none() ? "add" : "add_" + std::string(activation_name(f)), active_isa()),
                       std::to_string(n), (1 + f.info().fwd_flops) * e, 12 * e};
  });
  detail::parallel_ranges(n, min_parallel(f), int64_t{1} << 16,
                          [&](int64_t i0, int64_t i1) { k.add_forward(f, i1 - i0, a + i0, b + i0, dst + i0); });
}

void add_activation_backward(Activation f, int64_t n, const float* dst, const float* diff_a, const float* diff_b,
                             float* diff_src) {
  const char* fn = "add_activation_backward";
  if (n < 0) throw Error(std::string(fn) + ": negative size n=" + std::to_string(n));
  if (n == 0) return;
  const auto where = [&] { return std::string(" (n=") + std::to_string(n) + ", " + activation_label(f) + ")"; };
  check_activation(f, fn);
  if (!f.is_none()) check_ptr(fn, dst, "dst", where);
  check_ptr(fn, diff_a, "diff_a", where);
  check_ptr(fn, diff_b, "diff_b", where);
  check_ptr(fn, diff_src, "diff_src", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(n);
    return trace::Call{detail::variant_name(f.is_none() ? "add_bwd" : "add_d" + std::string(activation_name(f)) + "_bwd",
                                            active_isa()),
                       std::to_string(n), (1 + f.info().bwd_flops) * e, (f.is_none() ? 12 : 16) * e};
  });
  detail::parallel_ranges(n, kParallelMinMemory, int64_t{1} << 16, [&](int64_t i0, int64_t i1) {
    k.add_backward(f, i1 - i0, f.is_none() ? nullptr : dst + i0, diff_a + i0, diff_b + i0, diff_src + i0);
  });
}

void softmax_forward(int64_t rows, int64_t cols, const float* src, BiasKind bias_kind,
                     const float* bias, float* dst) {
  const char* fn = "softmax_forward";
  check_sizes(fn, 1, rows, cols);
  if (rows * cols == 0) return;
  const auto where = [&] { return dims(1, rows, cols) + ", bias " + bias_name(bias_kind); };
  check_ptr(fn, src, "src", where);
  check_ptr(fn, dst, "dst", where);
  if (bias_kind != BiasKind::None) check_ptr(fn, bias, "bias", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(rows * cols);
    return trace::Call{detail::variant_name(bias_kind != BiasKind::None ? "bias_softmax" : "softmax", active_isa()),
                       std::to_string(rows) + "x" + std::to_string(cols), 5 * e, 8 * e};
  });
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / cols);
  detail::parallel_ranges(rows, std::max<int64_t>(2, kParallelMinCompute / cols), grain,
                          [&](int64_t r0, int64_t r1) {
                            const float* b = bias_kind == BiasKind::PerRow ? bias + r0 : bias;
                            k.softmax_forward(r1 - r0, cols, src + r0 * cols, bias_kind, b, dst + r0 * cols);
                          });
}

void softmax_backward(int64_t rows, int64_t cols, const float* dst, const float* diff_dst,
                      float* diff_src) {
  const char* fn = "softmax_backward";
  check_sizes(fn, 1, rows, cols);
  if (rows * cols == 0) return;
  const auto where = [&] { return dims(1, rows, cols); };
  check_ptr(fn, dst, "dst", where);
  check_ptr(fn, diff_dst, "diff_dst", where);
  check_ptr(fn, diff_src, "diff_src", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(rows * cols);
    return trace::Call{detail::variant_name("softmax_bwd", active_isa()), std::to_string(rows) + "x" + std::to_string(cols),
                       4 * e, 12 * e};
  });
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / cols);
  detail::parallel_ranges(rows, std::max<int64_t>(2, kParallelMinMemory / cols), grain,
                          [&](int64_t r0, int64_t r1) {
                            const int64_t o = r0 * cols;
                            k.softmax_backward(r1 - r0, cols, dst + o, diff_dst + o, diff_src + o);
                          });
}

void bias_grad(int64_t batch, int64_t rows, int64_t cols, const float* diff, BiasKind bias_kind,
               float* db, bool accumulate) {
  const char* fn = "bias_grad";
  check_sizes(fn, batch, rows, cols);
  const auto where = [&] { return dims(batch, rows, cols) + ", bias " + bias_name(bias_kind); };
  if (bias_kind == BiasKind::None) throw Error(std::string(fn) + ": bias kind none has no gradient" + where());
  const int64_t len = bias_kind == BiasKind::PerRow ? rows : cols;
  if (len == 0) return;
  check_ptr(fn, db, "db", where);
  const int64_t total = batch * rows * cols;
  if (total > 0) check_ptr(fn, diff, "diff", where);
  const auto& k = detail::activation_kernels(active_isa());
  const trace::KernelScope scope([&] {
    const double e = static_cast<double>(total);
    return trace::Call{detail::variant_name("bias_grad", active_isa()),
                       std::to_string(batch * rows) + "x" + std::to_string(cols), e, 4 * e + 4.0 * static_cast<double>(len)};
  });

  if (bias_kind == BiasKind::PerRow) {
    // db[r] = Σ_b Σ_j diff[b, r, j]: each row's runs summed in batch order
    // (double across runs); rows are independent, so they are split freely.
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, batch * cols));
    detail::parallel_ranges(rows, std::max<int64_t>(2, kParallelMinMemory / std::max<int64_t>(1, batch * cols)),
                            grain, [&](int64_t r0, int64_t r1) {
                              for (int64_t r = r0; r < r1; ++r) {
                                double s = 0;
                                for (int64_t b = 0; b < batch; ++b) s += k.sum(cols, diff + (b * rows + r) * cols);
                                db[r] = static_cast<float>(accumulate ? db[r] + s : s);
                              }
                            });
    return;
  }
  // db[j] = Σ over the batch·rows rows: columns are independent, so strips
  // of columns are split freely; a column's order never depends on the strip.
  const int64_t nrows = batch * rows;
  const int64_t strip = 64;
  const int64_t nstrips = (cols + strip - 1) / strip;
  detail::parallel_ranges(nstrips, std::max<int64_t>(2, kParallelMinMemory / std::max<int64_t>(1, nrows * strip)),
                          1, [&](int64_t s0, int64_t s1) {
                            const int64_t j0 = s0 * strip, j1 = std::min(cols, s1 * strip);
                            if (!accumulate) {
                              k.col_sums(nrows, j1 - j0, cols, diff + j0, db + j0);
                              return;
                            }
                            float tmp[strip];
                            for (int64_t j = j0; j < j1; j += strip) {
                              const int64_t w = std::min(strip, j1 - j);
                              k.col_sums(nrows, w, cols, diff + j, tmp);
                              for (int64_t t = 0; t < w; ++t) db[j + t] += tmp[t];
                            }
                          });
}

}  // namespace nabla::kernels
