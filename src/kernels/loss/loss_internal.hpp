#pragma once
// Internal interface between the loss dispatcher (loss.cpp, generic flags)
// and the per-ISA kernels (loss_<isa>.cpp). Nothing here includes xsimd.
#include <cstdint>

#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The loss family's kernels for one ISA. Each works on a contiguous
/// sub-range on the calling thread, writes its part of the gradient
/// (already scaled by scale = 1/N or 2/N) and returns the sum of its loss
/// terms, accumulated in an order fixed by the sub-range's size.
struct LossKernels {
  /// Rows of logits [rows, cols]: targets are class indices labels[rows]
  /// (validated) when labels is non-null, else probabilities targets[rows, cols].
  /// Returns Σ_r loss_r in row order (double).
  double (*softmax_ce)(int64_t rows, int64_t cols, const float* logits, const float* labels,
                       const float* targets, float scale, float* dlogits);
  double (*bce_with_logits)(int64_t n, const float* logits, const float* targets, float scale,
                            float* dlogits);
  double (*bce)(int64_t n, const float* probs, const float* targets, float scale, float* dprobs);
  double (*mse)(int64_t n, const float* pred, const float* targets, float scale, float* dpred);
};

// Defined in loss_<isa>.cpp.
const LossKernels& loss_kernels_avx512();
const LossKernels& loss_kernels_avx2();
const LossKernels& loss_kernels_sse2();

/// The kernels for an ISA.
const LossKernels& loss_kernels(Isa isa);

}  // namespace nabla::kernels::detail
