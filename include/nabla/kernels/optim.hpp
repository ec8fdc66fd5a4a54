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

/// torch.optim.SGD hyper-parameters (no dampening, no Nesterov).
struct SgdParams {
  float lr = 0.01f;           ///< learning rate, >= 0
  float momentum = 0.f;       ///< >= 0; 0 needs no momentum buffer
  float weight_decay = 0.f;   ///< >= 0, added to the gradient (L2)
};

/// One SGD step: g = grad + weight_decay·param; with momentum,
/// buf = g on the first step (first_step = true), else buf = momentum·buf + g,
/// and g = buf; then param −= lr·g. momentum_buf may be null when momentum is 0.
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

/// Scalar reference of sgd_update.
void sgd_update_reference(int64_t n, float* param, const float* grad, float* momentum_buf,
                          const SgdParams& hp, bool first_step);
/// Scalar reference of adam_update.
void adam_update_reference(int64_t n, float* param, const float* grad, float* m, float* v,
                           const AdamParams& hp, int64_t step);

}  // namespace nabla::kernels
