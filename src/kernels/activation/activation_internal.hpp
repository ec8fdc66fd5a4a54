#pragma once
// Internal interface between the activation dispatcher (activation.cpp,
// generic flags) and the per-ISA kernels (activation_<isa>.cpp). Nothing
// here includes xsimd.
#include <cstdint>

#include "nabla/kernels/types.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The activation family's kernels for one ISA. Each works on a contiguous
/// sub-range on the calling thread; the dispatcher validates and splits.
struct ActivationKernels {
  /// dst[r, j] = f(src[r, j] + b) for r < rows, j < cols; b = bias[r]
  /// (PerRow), bias[j] (PerCol) or 0.
  void (*forward)(Activation f, int64_t rows, int64_t cols, const float* src, BiasKind kind,
                  const float* bias, float* dst);
  /// diff_src[i] = diff_dst[i] · f'(from dst[i]), i < n.
  void (*backward)(Activation f, int64_t n, const float* dst, const float* diff_dst,
                   float* diff_src);
  /// dst[i] = f(a[i] + b[i]), i < n.
  void (*add_forward)(Activation f, int64_t n, const float* a, const float* b, float* dst);
  /// diff_src[i] = (diff_a[i] + diff_b[i]) · f'(from dst[i]), i < n (dst unread for None).
  void (*add_backward)(Activation f, int64_t n, const float* dst, const float* diff_a, const float* diff_b,
                       float* diff_src);
  /// Row-wise softmax of src + bias (PerRow: bias[r]; PerCol: bias[j]).
  void (*softmax_forward)(int64_t rows, int64_t cols, const float* src, BiasKind kind,
                          const float* bias, float* dst);
  /// Row-wise softmax Jacobian-vector product from the output.
  void (*softmax_backward)(int64_t rows, int64_t cols, const float* dst, const float* diff_dst,
                           float* diff_src);
  /// Σ src[0:n] in the fixed order of block_sum (common/simd.hpp).
  double (*sum)(int64_t n, const float* src);
  /// dst[j] = Σ_r src[r·ld + j] for j < cols: float sums of 64-row blocks
  /// added in row order; each column's order is independent of cols.
  void (*col_sums)(int64_t rows, int64_t cols, int64_t ld, const float* src, float* dst);
};

// Defined in activation_<isa>.cpp.
const ActivationKernels& activation_kernels_avx512();
const ActivationKernels& activation_kernels_avx2();
const ActivationKernels& activation_kernels_sse2();

/// The kernels for an ISA.
const ActivationKernels& activation_kernels(Isa isa);

}  // namespace nabla::kernels::detail
