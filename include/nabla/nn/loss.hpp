#pragma once
/// \file loss.hpp  Losses with PyTorch's definitions ('mean' reduction):
/// `float forward(pred, target)`, then `Tensor backward()` = dLoss/dpred, so
/// that `model.backward(loss.backward())` is the chain rule.
///
/// The gradient is computed in forward (one fused pass) and kept in a buffer
/// that is reused from step to step; like Sequential's outputs, a returned
/// gradient stays unchanged while the caller holds it.
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// Softmax + cross-entropy from logits [N, C] (PyTorch's CrossEntropyLoss):
/// targets are class indices [N] (whole numbers in [0, C) stored as floats)
/// or probabilities [N, C] (one-hot or soft); mean over the batch. Gradient
/// (softmax(z) − Y)/N.
class SoftmaxCrossEntropy {
 public:
  /// Returns the mean loss; throws nabla::Error on a shape mismatch or a bad
  /// class index.
  float forward(const Tensor& pred, const Tensor& target);
  /// dLoss/dlogits of the last forward; throws nabla::Error before any.
  Tensor backward() const;

 private:
  Tensor grad_, spare_;
};

/// Binary cross-entropy, mean over all elements. from_logits = false: pred
/// are probabilities (PyTorch's BCELoss, logs clamped at −100); true: pred
/// are logits (BCEWithLogitsLoss, numerically stable). When pred is the
/// output of a Sequential ending in Sigmoid, the model uses the fused
/// gradient (A − Y)/N for the sigmoid's input.
class BinaryCrossEntropy {
 public:
  /// See the class comment.
  explicit BinaryCrossEntropy(bool from_logits = false) : from_logits_(from_logits) {}
  /// Returns the mean loss; throws nabla::Error when shapes differ.
  float forward(const Tensor& pred, const Tensor& target);
  /// dLoss/dpred of the last forward; throws nabla::Error before any.
  Tensor backward() const;
  /// Whether pred are logits.
  bool from_logits() const { return from_logits_; }

 private:
  bool from_logits_;
  Tensor grad_, spare_, dz_;
};

/// Mean squared error over all elements (PyTorch's MSELoss): mean (p − y)²,
/// gradient 2(p − y)/numel.
class MSE {
 public:
  /// Returns the mean loss; throws nabla::Error when shapes differ.
  float forward(const Tensor& pred, const Tensor& target);
  /// dLoss/dpred of the last forward; throws nabla::Error before any.
  Tensor backward() const;

 private:
  Tensor grad_, spare_;
};

}  // namespace nabla::nn
