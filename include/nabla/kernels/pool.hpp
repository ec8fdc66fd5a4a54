#pragma once
/// \file pool.hpp  2-D max pooling, NCHW, with arg-max indices.
///
///     src  [N, C, H, W]  ->  dst, idx  [N, C, OH, OW]
///     OH = (H + 2·padding − kernel) / stride + 1   (floor, PyTorch's ceil_mode = false)
///
/// idx holds, for each output, the position h·W + w of the chosen input in
/// its H×W plane (PyTorch's MaxPool2d(return_indices=True), int32 here).
/// Padding is implicit −∞: a padded position is never chosen. On ties the
/// first maximum in row-major window order wins; a NaN in a window wins over
/// every number (the first NaN), so NaN propagates. The backward pass
/// overwrites diff_src with dY scattered through idx, accumulating where
/// windows overlap (stride < kernel). 2×2 stride 2 without padding, the CNN
/// case, has a vectorised path; other shapes a scalar one. Both never
/// allocate and split the N·C planes over oneTBB.
#include <cstdint>

namespace nabla::kernels {

/// Geometry of a max pooling: input [n, c, h, w], square kernel, stride and
/// padding on both axes.
struct MaxPool2d {
  int64_t n = 0, c = 0, h = 0, w = 0;  ///< input shape, NCHW
  int64_t kernel = 2;                   ///< window side, >= 1
  int64_t stride = 2;                   ///< >= 1 (PyTorch's default: the kernel)
  int64_t padding = 0;                  ///< implicit −∞ border, 0 <= padding <= kernel/2

  /// Output height (floor mode).
  int64_t out_h() const { return (h + 2 * padding - kernel) / stride + 1; }
  /// Output width (floor mode).
  int64_t out_w() const { return (w + 2 * padding - kernel) / stride + 1; }
};

/// dst = max over each window, idx = its arg-max (see the file comment).
/// Throws nabla::Error on an invalid geometry (non-positive kernel or stride,
/// negative sizes or padding, padding > kernel/2, a window larger than the
/// padded input, an H×W plane of 2^31 elements or more) or null pointers.
void max_pool2d_forward(const MaxPool2d& p, const float* src, float* dst, int32_t* idx);

/// diff_src [n, c, h, w] = dY [n, c, OH, OW] scattered through idx from
/// max_pool2d_forward (overwrites diff_src; positions no window chose get 0).
void max_pool2d_backward(const MaxPool2d& p, const float* diff_dst, const int32_t* idx,
                         float* diff_src);

/// Scalar reference of max_pool2d_forward.
void max_pool2d_forward_reference(const MaxPool2d& p, const float* src, float* dst, int32_t* idx);
/// Scalar reference of max_pool2d_backward.
void max_pool2d_backward_reference(const MaxPool2d& p, const float* diff_dst, const int32_t* idx,
                                   float* diff_src);

}  // namespace nabla::kernels
