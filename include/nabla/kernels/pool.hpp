#pragma once
/// \file pool.hpp  2-D max pooling, NCHW, with arg-max indices; average
/// and global average pooling (AvgPool2d, global_avg_pool2d_*, below).
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

#include "nabla/kernels/types.hpp"

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
///
/// With f not None, the derivative of an activation applied before the
/// pooling is fused in: each dY is multiplied by f'(·) from dst, the pooled
/// output of max_pool2d_forward (at the chosen input, f's output), before
/// the scatter: diff_src = (dY ⊙ f'(dst)) scattered, which is dLoss/d(the
/// pre-activation input) as activation_backward would give it after the
/// plain scatter (bitwise the same where windows do not overlap). f must
/// take its derivative from its output (not derivative_uses_input: GELU,
/// SiLU throw nabla::Error), and dst must then not be null.
void max_pool2d_backward(const MaxPool2d& p, const float* diff_dst, const int32_t* idx, float* diff_src,
                         Activation f = Activation::None, const float* dst = nullptr);

/// Scalar reference of max_pool2d_forward.
void max_pool2d_forward_reference(const MaxPool2d& p, const float* src, float* dst, int32_t* idx);
/// Scalar reference of max_pool2d_backward.
void max_pool2d_backward_reference(const MaxPool2d& p, const float* diff_dst, const int32_t* idx,
                                   float* diff_src, Activation f = Activation::None, const float* dst = nullptr);

/// Geometry of an average pooling (PyTorch's AvgPool2d(kernel, stride,
/// padding) with count_include_pad = True, ceil_mode = False): input
/// [n, c, h, w], square kernel, stride and zero padding on both axes.
///
///     dst[y, x] = (Σ over the window's inputs inside the plane, row-major) / kernel²
///
/// Padded positions count in the divisor (kernel², always: in floor mode no
/// window reaches past the padding). Backward: each input gets dY/kernel²
/// of every window that holds it, accumulated in the order output row y,
/// window row, window column, output column x (the reference's order).
struct AvgPool2d {
  int64_t n = 0, c = 0, h = 0, w = 0;  ///< input shape, NCHW
  int64_t kernel = 2;                   ///< window side, >= 1
  int64_t stride = 2;                   ///< >= 1
  int64_t padding = 0;                  ///< zero border, 0 <= padding <= kernel/2

  /// Output height (floor mode).
  int64_t out_h() const { return (h + 2 * padding - kernel) / stride + 1; }
  /// Output width (floor mode).
  int64_t out_w() const { return (w + 2 * padding - kernel) / stride + 1; }
};

/// dst [n, c, OH, OW] = the window means (see AvgPool2d). Stride 1 and 2 are
/// vectorised along the output width, other strides scalar; the same
/// summation order everywhere, so every ISA gives the reference's bits.
/// Throws nabla::Error on an invalid geometry (as max_pool2d_forward) or null pointers.
void avg_pool2d_forward(const AvgPool2d& p, const float* src, float* dst);
/// diff_src [n, c, h, w] = dY spread back over the windows (overwrites).
void avg_pool2d_backward(const AvgPool2d& p, const float* diff_dst, float* diff_src);
/// Scalar reference of avg_pool2d_forward (bitwise the same).
void avg_pool2d_forward_reference(const AvgPool2d& p, const float* src, float* dst);
/// Scalar reference of avg_pool2d_backward (bitwise the same).
void avg_pool2d_backward_reference(const AvgPool2d& p, const float* diff_dst, float* diff_src);

/// Global average pooling (PyTorch's AdaptiveAvgPool2d(1)): dst[q] = mean of
/// the `plane` values of plane q, for `planes` = N·C consecutive planes of
/// H·W = plane values ([N, C, H, W] -> [N, C, 1, 1]). The sum is vectorised
/// (its order depends on the ISA, not on the thread count).
void global_avg_pool2d_forward(int64_t planes, int64_t plane, const float* src, float* dst);
/// diff_src[q, i] = diff_dst[q] / plane (overwrites).
void global_avg_pool2d_backward(int64_t planes, int64_t plane, const float* diff_dst, float* diff_src);
/// Float64 reference of global_avg_pool2d_forward (sums in double, rounds once).
void global_avg_pool2d_forward_reference(int64_t planes, int64_t plane, const float* src, float* dst);

}  // namespace nabla::kernels
