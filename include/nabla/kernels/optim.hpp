#pragma once
/// \file optim.hpp  One-pass optimiser updates over a flat parameter array,
/// with torch.optim's rules.
///
/// Each element is updated independently (param, grad and state arrays of n
/// floats, contiguous, not overlapping), so the result is bitwise the same
/// for any thread count. Throws nabla::Error on a negative n, null pointers
/// with n > 0, or hyper-parameters torch.optim rejects; never allocates.
#include <cstdint>

namespace nabla::kernels {

/// torch.optim.SGD hyper-parameters (no dampening).
struct SgdParams {
  float lr = 0.01f;           ///< learning rate, >= 0
  float momentum = 0.f;       ///< >= 0; 0 needs no momentum buffer
  float weight_decay = 0.f;   ///< >= 0, added to the gradient (L2)
  bool nesterov = false;      ///< Nesterov momentum; needs momentum > 0
};

/// One SGD step: g = grad + weight_decay·param; with momentum,
/// buf = g on the first step (first_step = true), else buf = momentum·buf + g,
/// and g = buf (Nesterov: g = g + momentum·buf); then param −= lr·g.
/// momentum_buf may be null when momentum is 0.
void sgd_update(int64_t n, float* param, const float* grad, float* momentum_buf,
                const SgdParams& hp, bool first_step);

/// torch.optim.Adam hyper-parameters (bias-corrected, not AMSGrad, L2 weight
/// decay added to the gradient, not AdamW).
struct AdamParams {
  float lr = 1e-3f;           ///< learning rate, >= 0
  float beta1 = 0.9f;         ///< in [0, 1)
  float beta2 = 0.999f;       ///< in [0, 1)
  float eps = 1e-8f;          ///< >= 0, added after the square root
  float weight_decay = 0.f;   ///< >= 0
};

/// One Adam step number `step` (1 for the first; m and v start at zero):
/// g = grad + weight_decay·param; m = lerp(m, g, 1 − β1); v = β2·v + (1 − β2)·g²;
/// param −= lr/(1 − β1^step) · m / (sqrt(v)/sqrt(1 − β2^step) + eps).
void adam_update(int64_t n, float* param, const float* grad, float* m, float* v,
                 const AdamParams& hp, int64_t step);

/// torch.optim.AdamW: decoupled weight decay, param ·= 1 − lr·weight_decay
/// (the factor computed in double, as torch does), then the Adam step above
/// without decay on the gradient. Same arguments as adam_update.
void adamw_update(int64_t n, float* param, const float* grad, float* m, float* v,
                  const AdamParams& hp, int64_t step);

/// torch.optim.RMSprop hyper-parameters (centered = False).
struct RmspropParams {
  float lr = 1e-2f;           ///< learning rate, >= 0
  float alpha = 0.99f;        ///< smoothing constant, >= 0
  float eps = 1e-8f;          ///< >= 0, added after the square root
  float weight_decay = 0.f;   ///< >= 0, added to the gradient (L2)
  float momentum = 0.f;       ///< >= 0; 0 needs no momentum buffer
};

/// One RMSprop step (square_avg and momentum_buf start at zero):
/// g = grad + weight_decay·param; square_avg = alpha·square_avg + (1 − alpha)·g²;
/// avg = sqrt(square_avg) + eps; with momentum, buf = momentum·buf + g/avg and
/// param −= lr·buf, else param −= lr·g/avg. momentum_buf may be null when
/// momentum is 0.
void rmsprop_update(int64_t n, float* param, const float* grad, float* square_avg, float* momentum_buf,
                    const RmspropParams& hp);

/// Σ src[i]², in double over fixed blocks whose boundaries depend on n
/// only: bitwise the same for any thread count (the squared L2 norm that
/// gradient clipping needs).
double sum_squares(int64_t n, const float* src);

/// dst[i] *= s.
void scale(int64_t n, float* dst, float s);

/// Scalar reference of sgd_update.
void sgd_update_reference(int64_t n, float* param, const float* grad, float* momentum_buf,
                          const SgdParams& hp, bool first_step);
/// Scalar reference of adam_update.
void adam_update_reference(int64_t n, float* param, const float* grad, float* m, float* v,
                           const AdamParams& hp, int64_t step);
/// Scalar reference of adamw_update.
void adamw_update_reference(int64_t n, float* param, const float* grad, float* m, float* v,
                            const AdamParams& hp, int64_t step);
/// Scalar reference of rmsprop_update.
void rmsprop_update_reference(int64_t n, float* param, const float* grad, float* square_avg, float* momentum_buf,
                              const RmspropParams& hp);
/// Scalar reference of sum_squares (a plain double sum).
double sum_squares_reference(int64_t n, const float* src);

}  // namespace nabla::kernels
