#pragma once
/// \file activation.hpp  Element-wise activations, their fused derivatives,
/// row-wise softmax and bias gradients.
///
/// Shapes: a contiguous row-major tensor is seen as `batch` matrices of
/// `rows × cols`, so that one bias convention covers every layer:
///
///   | layer output           | batch | rows | cols  | bias kind |
///   | ---------------------- | ----- | ---- | ----- | --------- |
///   | Dense  [N, F]          | 1     | N    | F     | PerCol    |
///   | Conv2D [N, C, H, W]    | N     | C    | H·W   | PerRow    |
///   | any, no bias           | 1     | 1    | numel | None      |
///
/// The forward kernels compute A = f(Z + b) and the bias gradient kernel is
/// its adjoint db = Σ dZ over the same broadcast. Derivatives are in fused
/// "use the output" form, dZ = dA ⊙ f'(Z) computed from A (ReLU: A > 0;
/// sigmoid: A(1 − A); tanh: 1 − A²): the same functions the GEMM epilogue
/// applies. The math is accurate to a few ulp (sigmoid, tanh) and NaN
/// propagates. In-place calls (dst == src, diff_src == diff_dst) are allowed;
/// other overlaps are not. Every kernel throws nabla::Error on negative sizes
/// or null pointers with non-zero sizes, never allocates, and splits large
/// inputs over oneTBB; results are bitwise identical for any thread count.
#include <cstdint>

#include "nabla/kernels/types.hpp"

namespace nabla::kernels {

/// dst[b, r, j] = f(src[b, r, j] + bias) with bias = bias[r] (PerRow),
/// bias[j] (PerCol) or 0 (None; bias may then be null). f = None adds the
/// bias only.
void activation_forward(Activation f, int64_t batch, int64_t rows, int64_t cols, const float* src,
                        BiasKind bias_kind, const float* bias, float* dst);

/// diff_src[i] = diff_dst[i] · f'(·) from dst[i] = f(·), for i < n:
/// ReLU: diff_dst·[dst > 0]; sigmoid: diff_dst·dst(1 − dst); tanh:
/// diff_dst·(1 − dst²); None: diff_dst. For the kinds whose derivative
/// uses the input (derivative_uses_input: GELU, SiLU), dst holds the
/// pre-activation Z instead of the output.
void activation_backward(Activation f, int64_t n, const float* dst, const float* diff_dst,
                         float* diff_src);

/// dst[i] = f(a[i] + b[i]) for i < n: a residual block's add and the
/// activation after it, in one pass (the sum rounded to float, as a separate
/// add would). dst may be a or b.
void add_activation_forward(Activation f, int64_t n, const float* a, const float* b, float* dst);

/// diff_src[i] = (diff_a[i] + diff_b[i]) · f'(·) from dst[i] as in
/// activation_backward (the sum rounded to float first): the input gradient
/// of a residual block, its two branches' gradients added and the previous
/// activation's derivative applied in one pass. dst may be null for None;
/// diff_src may be diff_a or diff_b.
void add_activation_backward(Activation f, int64_t n, const float* dst, const float* diff_a, const float* diff_b,
                             float* diff_src);

/// Row-wise softmax of a [rows, cols] matrix, max-subtracted:
/// dst[r, j] = e^{z_j − max z} / Σ_k e^{z_k − max z} with z = src[r, ·] + bias
/// (bias[r] for PerRow, bias[j] for PerCol, none for None).
void softmax_forward(int64_t rows, int64_t cols, const float* src, BiasKind bias_kind,
                     const float* bias, float* dst);

/// Softmax backward (the Jacobian-vector product) from the stored output:
/// diff_src[r, j] = dst[r, j] · (diff_dst[r, j] − Σ_k diff_dst[r, k] · dst[r, k]).
void softmax_backward(int64_t rows, int64_t cols, const float* dst, const float* diff_dst,
                      float* diff_src);

/// The bias gradient, adjoint of the bias broadcast of activation_forward:
/// PerRow: db[r] = Σ_b Σ_j diff[b, r, j] (per channel of an NCHW tensor);
/// PerCol: db[j] = Σ_b Σ_r diff[b, r, j] (column sums of [N, F]).
/// accumulate = false overwrites db, true adds the sum to it (PyTorch's
/// `grad +=`). The summation order is fixed by the shape alone, so the
/// result is bitwise the same for any thread count. Throws nabla::Error for
/// bias_kind None.
void bias_grad(int64_t batch, int64_t rows, int64_t cols, const float* diff, BiasKind bias_kind,
               float* db, bool accumulate = false);

/// The float64 reference of one activation value, f(z), from the table's
/// maths (what every scalar reference and the tests use).
double activation_reference(Activation f, double z);
/// The float64 reference of the derivative: g · f'(z) given d = a = f(z),
/// or d = z for the kinds whose derivative uses the input.
double activation_backward_reference(Activation f, double g, double a);

/// Scalar reference of activation_forward (double intermediate, <cmath>).
void activation_forward_reference(Activation f, int64_t batch, int64_t rows, int64_t cols,
                                  const float* src, BiasKind bias_kind, const float* bias,
                                  float* dst);
/// Scalar reference of activation_backward.
void activation_backward_reference(Activation f, int64_t n, const float* dst,
                                   const float* diff_dst, float* diff_src);
/// Scalar reference of add_activation_forward.
void add_activation_forward_reference(Activation f, int64_t n, const float* a, const float* b, float* dst);
/// Scalar reference of add_activation_backward.
void add_activation_backward_reference(Activation f, int64_t n, const float* dst, const float* diff_a,
                                       const float* diff_b, float* diff_src);
/// Scalar reference of softmax_forward (double accumulation).
void softmax_forward_reference(int64_t rows, int64_t cols, const float* src, BiasKind bias_kind,
                               const float* bias, float* dst);
/// Scalar reference of softmax_backward (double accumulation).
void softmax_backward_reference(int64_t rows, int64_t cols, const float* dst,
                                const float* diff_dst, float* diff_src);
/// Scalar reference of bias_grad (double accumulation).
void bias_grad_reference(int64_t batch, int64_t rows, int64_t cols, const float* diff,
                         BiasKind bias_kind, float* db, bool accumulate = false);

}  // namespace nabla::kernels
