#pragma once
/// \file conv.hpp  2-D convolution, NCHW, by im2col + GEMM: forward (with a
/// fused bias + activation), backward-data (with the previous layer's
/// activation derivative fused) and backward-weights (with the bias
/// gradient).
///
///     src          [N, C_in, H, W]
///     weights      [C_out, C_in, kh, kw]        (PyTorch's Conv2d layout)
///     bias         [C_out]
///     dst          [N, C_out, OH, OW]
///     OH = (H + 2·pad_h − dil_h·(kh − 1) − 1) / stride_h + 1   (floor; OW alike)
///
/// Per image n, with col_n = im2col(src_n) of shape [C_in·kh·kw, OH·OW]:
///
///     forward           dst_n   = act(W · col_n + bias)           one GEMM, bias + act epilogue
///     backward-weights  dW     += Σ_n dZ_n · col_nᵀ,  db += Σ dZ   images summed in a fixed order
///     backward-data     dX_n    = col2im(Wᵀ · dZ_n) ⊙ f'(src_n)   GEMM, then col2im
///
/// W is read as the [C_out, C_in·kh·kw] matrix it already is in memory. A
/// 1×1, stride-1, unpadded convolution skips im2col/col2im (the image is the
/// column matrix). Most other layers never write col_n either: the GEMM
/// reads it from the zero-padded (for a stride, phase-split) image through
/// a table of row offsets, on a pitch a few columns wider than OW, and
/// backward-data runs as that forward GEMM on dZ_n with the flipped
/// weights (with a stride, one GEMM per input phase; no col2im). 3×3
/// stride-1 layers on images of at least 14×14 pixels run as Winograd
/// F(2×2, 3×3) where it measured faster: forward and backward-data with at
/// least 32 input and output channels and C_in·C_out ≥ 2048 (transformed
/// 4×4 tiles, 16 GEMMs over the tiles of a few images, the bias +
/// activation or the derivative fused into the output transform),
/// backward-weights with at least 16 (16 GEMMs as deep as the batch's
/// tiles, dW = Gᵀ dU G). Maps of fewer than 32
/// output positions put several images' column matrices side by side and
/// run one GEMM over them in every pass (one image's GEMM is too thin);
/// strided 1×1 layers use im2col. A tuning profile made by `nabla tune
/// --model` may choose another variant for a given layer shape and pass
/// (nabla::ConvChoice). Work is split over images (and inside each GEMM) with
/// oneTBB; the column buffers are per-thread and reused, so a steady-state
/// call allocates nothing. Every result is bitwise identical for any thread
/// count.
///
/// Example, the first layer of LeNet on a batch of 64 (ReLU fused):
///
///     nabla::kernels::ConvShape s({.n = 64, .c_in = 1, .h = 28, .w = 28,
///                                  .c_out = 6, .kh = 5, .kw = 5});
///     nabla::kernels::conv2d_forward(s, x, w, b, nabla::kernels::Activation::ReLU, y);
#include <cstdint>

#include "nabla/kernels/types.hpp"

namespace nabla::kernels {

/// A convolution's geometry as the caller states it (designated
/// initialisers read well: `{.n = 64, .c_in = 1, .h = 28, ...}`). Padding is
/// zero padding on both sides of each axis.
struct ConvParams {
  int64_t n = 1;                     ///< images in the batch
  int64_t c_in = 0, h = 0, w = 0;    ///< input channels and image size
  int64_t c_out = 0;                 ///< output channels (filters)
  int64_t kh = 0, kw = 0;            ///< kernel size
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;      ///< dilation (1: a dense kernel)
  bool operator==(const ConvParams&) const = default;
};

/// A validated convolution geometry with its output size, computed once.
/// The kernels take this, so they never see an invalid shape.
class ConvShape {
 public:
  /// Validates p and computes the output size. Throws nabla::Error naming
  /// the values when a size, the kernel, stride or dilation is not
  /// positive, a padding is negative, the (dilated) kernel is larger than
  /// the padded input, or an element count (input, output, weights, column
  /// matrix) overflows 64 bits.
  explicit ConvShape(const ConvParams& p);

  /// The geometry as given.
  const ConvParams& params() const { return p_; }
  /// Output height.
  int64_t oh() const { return oh_; }
  /// Output width.
  int64_t ow() const { return ow_; }
  /// Rows of the column matrix and columns of W: C_in·kh·kw.
  int64_t col_rows() const { return p_.c_in * p_.kh * p_.kw; }
  /// Columns of the column matrix: OH·OW.
  int64_t col_cols() const { return oh_ * ow_; }
  /// Elements of one input image: C_in·H·W.
  int64_t src_image() const { return p_.c_in * p_.h * p_.w; }
  /// Elements of one output image: C_out·OH·OW.
  int64_t dst_image() const { return p_.c_out * oh_ * ow_; }
  /// Elements of the weights: C_out·C_in·kh·kw.
  int64_t weights_size() const { return p_.c_out * col_rows(); }
  /// True for a 1×1, stride-1, unpadded convolution (no im2col needed).
  bool is_pointwise() const;

 private:
  ConvParams p_;
  int64_t oh_ = 0, ow_ = 0;
};

/// Forward: dst = act(conv(src, weights) + bias). bias may be null (no
/// bias); act = None leaves the pre-activation. Throws nabla::Error on null
/// src, weights or dst.
void conv2d_forward(const ConvShape& s, const float* src, const float* weights, const float* bias,
                    Activation act, float* dst);

/// Forward followed by a 2×2 stride-2 max pool (floor mode): dst [N, C_out,
/// OH/2, OW/2] = maxpool(act(conv(src, weights) + bias)), idx the arg-max
/// of each window as max_pool2d_forward writes it (h·OW + w in its plane),
/// bitwise the same as conv2d_forward then max_pool2d_forward. Where
/// conv2d_fuses_maxpool(s), the pool runs in the convolution's output
/// transform and the unpooled output is never written; elsewhere the
/// convolution goes to scratch first. Throws nabla::Error on null pointers
/// or an output smaller than 2×2.
void conv2d_forward_maxpool(const ConvShape& s, const float* src, const float* weights, const float* bias,
                            Activation act, float* dst, int32_t* idx);

/// True when conv2d_forward_maxpool pools inside the convolution for s (the
/// variant chosen for its forward pass is Winograd and OH, OW are even).
bool conv2d_fuses_maxpool(const ConvShape& s);

/// Backward-weights of a convolution followed by a 2×2 stride-2 max pool,
/// from the pool's output gradient diff_pooled [N, C_out, OH/2, OW/2]
/// (already times the activation's derivative) and its arg-max idx (as
/// max_pool2d_forward and conv2d_forward_maxpool write it): the same as
/// max_pool2d_backward into dZ, then conv2d_backward_weights. Where
/// conv2d_fuses_maxpool_grad(s), dZ is built in registers and never
/// written; elsewhere it goes to scratch first. Throws nabla::Error on null
/// pointers or an output smaller than 2×2.
void conv2d_backward_weights_maxpool(const ConvShape& s, const float* src, const float* diff_pooled,
                                     const int32_t* idx, float* diff_weights, float* diff_bias,
                                     bool accumulate = false);

/// True when conv2d_backward_weights_maxpool reads the pool's gradient
/// directly for s (the one-channel direct kernel, OH and OW even).
bool conv2d_fuses_maxpool_grad(const ConvShape& s);

/// Backward-data: diff_src = ∂L/∂src from diff_dst = ∂L/∂Z (Z the
/// pre-activation output of this convolution), overwriting diff_src.
/// With src_act != None, src must be the stored input of this layer, which
/// is the output A = src_act(Z_prev) of the previous layer, and the result
/// is multiplied by that activation's derivative (ReLU: src > 0; sigmoid:
/// src(1 − src); tanh: 1 − src²), giving ∂L/∂Z_prev: the derivative is
/// applied to each channel plane right after col2im has summed all its
/// overlapping windows, while the plane is still in L1 (a 1×1 convolution
/// applies it in the GEMM epilogue). Throws nabla::Error on null pointers
/// (src only when src_act != None).
void conv2d_backward_data(const ConvShape& s, const float* diff_dst, const float* weights, float* diff_src,
                          Activation src_act = Activation::None, const float* src = nullptr);

/// Backward-weights: diff_weights = Σ_n dZ_n · col_nᵀ and diff_bias[o] =
/// Σ_{n,y,x} diff_dst[n, o, y, x] (skipped when diff_bias is null), added to
/// the existing values when accumulate is true (PyTorch's `grad +=`), else
/// overwriting them. Images are summed in fixed groups combined in index
/// order, so the result does not depend on the thread count. Throws
/// nabla::Error on null src, diff_dst or diff_weights.
void conv2d_backward_weights(const ConvShape& s, const float* src, const float* diff_dst,
                             float* diff_weights, float* diff_bias, bool accumulate = false);

/// One image: [C_in, H, W] → col [C_in·kh·kw, OH·OW], row (c·kh + i)·kw + j,
/// column y·OW + x holding src[c, y·stride_h + i·dil_h − pad_h,
/// x·stride_w + j·dil_w − pad_w] (0 in the padding). Throws nabla::Error on
/// null pointers.
void im2col(const ConvShape& s, const float* src, float* col);

/// One image, the adjoint of im2col: col [C_in·kh·kw, OH·OW] → dst [C_in, H, W],
/// each input position receiving the sum of every column entry im2col would
/// have copied it to (overwrites dst). Throws nabla::Error on null pointers.
void col2im(const ConvShape& s, const float* col, float* dst);

/// Scalar reference of conv2d_forward: a direct convolution in float64.
void conv2d_forward_reference(const ConvShape& s, const float* src, const float* weights, const float* bias,
                              Activation act, float* dst);
/// Scalar reference of conv2d_backward_data (float64 sums).
void conv2d_backward_data_reference(const ConvShape& s, const float* diff_dst, const float* weights,
                                    float* diff_src, Activation src_act = Activation::None,
                                    const float* src = nullptr);
/// Scalar reference of conv2d_backward_weights (float64 sums).
void conv2d_backward_weights_reference(const ConvShape& s, const float* src, const float* diff_dst,
                                       float* diff_weights, float* diff_bias, bool accumulate = false);

}  // namespace nabla::kernels
