#pragma once
/// \file norm.hpp  Batch normalisation (fused with the activation that
/// follows it) and dropout, over raw pointers.
///
/// Batch-norm data layout: x [n, c, hw] row-major — NCHW images with
/// hw = H·W, or [N, F] features with c = F and hw = 1. A channel's
/// statistics are over its n·hw values. Every per-channel sum is taken by one
/// thread in an order fixed by the shape, so every result is bitwise the same
/// for any thread count.
///
/// Dropout: element i of a call is kept when a counter-based hash of
/// (key, i) clears the threshold p (no generator state, no stored mask: the
/// backward pass recomputes the mask from the same key), so the result is
/// the same for any thread count and any split of the work.
#include <cstdint>

#include "nabla/kernels/types.hpp"

namespace nabla::kernels {

/// The geometry of a batch-norm tensor [n, c, hw].
struct NormShape {
  int64_t n = 0, c = 0, hw = 1;
  int64_t numel() const { return n * c * hw; }
};

/// Per-channel mean and biased variance (Σ(x − mean)²/(n·hw)) of x, in
/// double (accumulated from float lanes shifted by the channel's first
/// value, so a large mean does not cancel the variance away).
void batchnorm_stats(const NormShape& s, const float* x, double* mean, double* var);

/// y = act(x·scale[c] + shift[c] + residual) (one pass; residual null: no
/// addend; y may be x or residual). The residual is a block's shortcut added
/// in the same pass (nn::Residual), as float(float(x·scale + shift) + r):
/// the same rounding as a batch norm followed by a separate add.
void batchnorm_apply(const NormShape& s, const float* x, const float* scale, const float* shift, Activation act,
                     float* y, const float* residual = nullptr);

/// The sums of the backward pass, with dz = dy ⊙ act'(·) computed from the
/// stored output y (use-the-output form; y unused when act is None):
/// sum_dz[c] = Σ dz, sum_dzx[c] = Σ dz·(x − mean[c]).
///
/// y may be null when act's derivative depends only on the sign of its
/// argument (ReLU, LeakyReLU with a slope ≥ 0: sign_derivative()) and the
/// forward was batchnorm_apply with no residual: the sign then comes from
/// x·scale[c] + shift[c] (scale, shift: the forward's), computed as the
/// forward did, so dz is bitwise the same and y is not read (two arrays
/// streamed instead of three). Throws nabla::Error otherwise.
void batchnorm_backward_reduce(const NormShape& s, const float* dy, const float* y, Activation act, const float* x,
                               const float* mean, double* sum_dz, double* sum_dzx, const float* scale = nullptr,
                               const float* shift = nullptr);

/// dx = k_dz[c]·dz + k_x[c]·(x − mean[c]) + k_0[c], dz as in
/// batchnorm_backward_reduce, y null allowed alike (dx may be dy).
void batchnorm_backward_apply(const NormShape& s, const float* dy, const float* y, Activation act, const float* x,
                              const float* mean, const float* k_dz, const float* k_x, const float* k_0, float* dx,
                              const float* scale = nullptr, const float* shift = nullptr);

/// Whether act'(z) depends only on the sign of z, as the same sign of act(z)
/// (ReLU; LeakyReLU with a slope ≥ 0): its derivative may then come from
/// the pre-activation instead of the output.
bool sign_derivative(Activation act);

/// dst[i] = src[i]·scale if dropout_keep(key, i, p), else 0, with scale =
/// float(1/(1 − p)); p in [0, 1) (in effect rounded to a multiple of
/// 2^-16: each 32-bit hash decides two elements), n < 2^32. The same call on the upstream
/// gradient with the same key is the backward pass. dst may be src.
void dropout(int64_t n, const float* src, float p, uint64_t key, float* dst);

/// The per-call key of dropout() from a seed and a call counter.
uint64_t dropout_key(uint64_t seed, uint64_t counter);

/// Whether dropout keeps element i (the scalar definition of the mask).
bool dropout_keep(uint64_t key, int64_t i, float p);

/// Scalar references (double sums, the same definitions).
void batchnorm_stats_reference(const NormShape& s, const float* x, double* mean, double* var);
void batchnorm_apply_reference(const NormShape& s, const float* x, const float* scale, const float* shift,
                               Activation act, float* y, const float* residual = nullptr);
void batchnorm_backward_reduce_reference(const NormShape& s, const float* dy, const float* y, Activation act,
                                         const float* x, const float* mean, double* sum_dz, double* sum_dzx,
                                         const float* scale = nullptr, const float* shift = nullptr);
void batchnorm_backward_apply_reference(const NormShape& s, const float* dy, const float* y, Activation act,
                                        const float* x, const float* mean, const float* k_dz, const float* k_x,
                                        const float* k_0, float* dx, const float* scale = nullptr,
                                        const float* shift = nullptr);
void dropout_reference(int64_t n, const float* src, float p, uint64_t key, float* dst);

}  // namespace nabla::kernels
