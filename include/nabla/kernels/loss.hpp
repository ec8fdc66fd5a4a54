#pragma once
/// \file loss.hpp  Losses fused with their gradient: one pass returns the
/// loss and writes dLoss/dInput.
///
/// PyTorch's definitions and reductions ('mean'). Logits and predictions are
/// row-major, contiguous. The gradient may alias the prediction (in place);
/// it may not alias the targets. The loss is summed in a fixed order set by
/// the shape alone (float within blocks of 256 elements or per row, double
/// across them), so it is bitwise the same for any thread count. An empty input returns NaN (the
/// mean of nothing, as PyTorch). Every kernel throws nabla::Error on negative
/// sizes or null pointers with non-zero sizes, never allocates, and splits
/// large inputs over oneTBB.
#include <cstdint>

namespace nabla::kernels {

/// Softmax + cross-entropy from logits [n, c] with class-index targets
/// `labels[n]` (whole numbers in [0, c) stored as floats, as a Tensor holds
/// them): returns mean_r (logsumexp(z_r) − z_r[label_r]) and writes
/// dlogits = (softmax(z) − onehot(label)) / n. PyTorch's CrossEntropyLoss.
/// Throws nabla::Error on a label that is not a whole number in [0, c).
float softmax_cross_entropy(int64_t n, int64_t c, const float* logits, const float* labels,
                            float* dlogits);

/// Softmax + cross-entropy from logits [n, c] with target probabilities
/// [n, c] (one-hot or soft): returns mean_r Σ_j y_rj (logsumexp(z_r) − z_rj)
/// and writes dlogits = (softmax(z) · Σ_j y_rj − y) / n, which is
/// (softmax(z) − y)/n for one-hot targets.
float softmax_cross_entropy_probs(int64_t n, int64_t c, const float* logits, const float* targets,
                                  float* dlogits);

/// Sigmoid + binary cross-entropy from logits, mean over all n elements
/// (PyTorch's BCEWithLogitsLoss): loss terms max(z,0) − z·y + log(1+e^{−|z|}),
/// dlogits = (σ(z) − y)/n.
float bce_with_logits(int64_t n, const float* logits, const float* targets, float* dlogits);

/// Binary cross-entropy from probabilities p ∈ [0, 1], mean over all n
/// elements (PyTorch's BCELoss): terms −(y·max(log p, −100) + (1−y)·max(log(1−p), −100)),
/// dp = (p − y) / max(p(1 − p), 1e-12) / n.
float bce(int64_t n, const float* probs, const float* targets, float* dprobs);

/// Mean squared error over all n elements (PyTorch's MSELoss):
/// mean (p − y)², dp = 2(p − y)/n.
float mse(int64_t n, const float* pred, const float* targets, float* dpred);

/// Scalar reference of softmax_cross_entropy (double maths).
float softmax_cross_entropy_reference(int64_t n, int64_t c, const float* logits,
                                      const float* labels, float* dlogits);
/// Scalar reference of softmax_cross_entropy_probs (double maths).
float softmax_cross_entropy_probs_reference(int64_t n, int64_t c, const float* logits,
                                            const float* targets, float* dlogits);
/// Scalar reference of bce_with_logits (double maths).
float bce_with_logits_reference(int64_t n, const float* logits, const float* targets,
                                float* dlogits);
/// Scalar reference of bce (double maths).
float bce_reference(int64_t n, const float* probs, const float* targets, float* dprobs);
/// Scalar reference of mse (double maths).
float mse_reference(int64_t n, const float* pred, const float* targets, float* dpred);

}  // namespace nabla::kernels
