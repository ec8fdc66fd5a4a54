#pragma once
/// \file loss.hpp  Losses with PyTorch's definitions ('mean' reduction):
/// `float forward(pred, target)`, then `Tensor backward()` = dLoss/dpred, so
/// that `model.backward(loss.backward())` is the chain rule.
///
/// The gradient is computed in forward (one fused pass) and kept in a buffer
/// that is reused from step to step; like Sequential's outputs, a returned
/// gradient stays unchanged while the caller holds it.
///
/// `model.backward(loss.backward())` lets the model use a loss's exact
/// gradient for its last activation's input where the loss has one (sigmoid
/// + binary cross-entropy: (A − Y)/N, which stays exact where the sigmoid
/// saturates): see Loss::fused_input_grad.
#include <string>

#include "nabla/kernels/types.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// Base of the losses: what a training loop needs from any of them.
class Loss {
 public:
  Loss() = default;
  Loss(const Loss&) = default;
  Loss& operator=(const Loss&) = default;
  /// Forgets the gradients this loss registered for fusion (src/nn/fusion.hpp).
  virtual ~Loss();
  /// Returns the loss of pred against target (and computes its gradient);
  /// throws nabla::Error on a shape mismatch.
  virtual float forward(const Tensor& pred, const Tensor& target) = 0;
  /// dLoss/dpred of the last forward; throws nabla::Error before any.
  virtual Tensor backward() const = 0;
  /// Name for messages and logs: "SoftmaxCrossEntropy".
  virtual std::string name() const = 0;
  /// dLoss/dZ of the last forward when pred = f(Z) for the model's final
  /// activation f and the loss has that gradient in exact closed form, and
  /// pred and grad still hold the values of the last forward and of its
  /// gradient; null otherwise. Sequential::backward uses it when it is given
  /// a gradient this loss returned.
  virtual const Tensor* fused_input_grad(kernels::Activation /*f*/, const Tensor& /*pred*/,
                                         const Tensor& /*grad*/) const {
    return nullptr;
  }
};

/// Softmax + cross-entropy from logits [N, C] (PyTorch's CrossEntropyLoss):
/// targets are class indices [N] (whole numbers in [0, C) stored as floats)
/// or probabilities [N, C] (one-hot or soft); mean over the batch. Gradient
/// (softmax(z) − Y)/N.
class SoftmaxCrossEntropy : public Loss {
 public:
  /// Returns the mean loss; throws nabla::Error on a shape mismatch or a bad
  /// class index.
  float forward(const Tensor& pred, const Tensor& target) override;
  /// dLoss/dlogits of the last forward; throws nabla::Error before any.
  Tensor backward() const override;
  std::string name() const override { return "SoftmaxCrossEntropy"; }

 private:
  Tensor grad_, spare_;
};

/// Binary cross-entropy, mean over all elements. from_logits = false: pred
/// are probabilities (PyTorch's BCELoss, logs clamped at −100); true: pred
/// are logits (BCEWithLogitsLoss, numerically stable). When pred is the
/// output of a Sequential ending in Sigmoid, `model.backward(loss)` uses the
/// exact gradient (A − Y)/N for the sigmoid's input.
class BinaryCrossEntropy : public Loss {
 public:
  /// See the class comment.
  explicit BinaryCrossEntropy(bool from_logits = false) : from_logits_(from_logits) {}
  /// Returns the mean loss; throws nabla::Error when shapes differ.
  float forward(const Tensor& pred, const Tensor& target) override;
  /// dLoss/dpred of the last forward; throws nabla::Error before any.
  Tensor backward() const override;
  std::string name() const override { return from_logits_ ? "BinaryCrossEntropy(from_logits)" : "BinaryCrossEntropy"; }
  /// (A − Y)/N for a sigmoid output A (not from_logits).
  const Tensor* fused_input_grad(kernels::Activation f, const Tensor& pred, const Tensor& grad) const override;
  /// Whether pred are logits.
  bool from_logits() const { return from_logits_; }

 private:
  bool from_logits_;
  Tensor grad_, spare_, dz_;
  Tensor pred_copy_, grad_copy_;  // what dz_ belongs to: the values of the last forward
  const float* dz_of_ = nullptr;  // and the prediction's storage
};

/// Mean squared error over all elements (PyTorch's MSELoss): mean (p − y)²,
/// gradient 2(p − y)/numel.
class MSE : public Loss {
 public:
  /// Returns the mean loss; throws nabla::Error when shapes differ.
  float forward(const Tensor& pred, const Tensor& target) override;
  /// dLoss/dpred of the last forward; throws nabla::Error before any.
  Tensor backward() const override;
  std::string name() const override { return "MSE"; }

 private:
  Tensor grad_, spare_;
};

}  // namespace nabla::nn
