#pragma once
/// \file optim.hpp  Optimisers with torch.optim's update rules, updating
/// parameters in place from their gradients.
///
/// State (momentum buffers, Adam's moments) is allocated in the constructor,
/// so step() never allocates. step() does not clear gradients: call
/// zero_grad() (here or on the model) before each backward, as in PyTorch.
#include <cstdint>
#include <vector>

#include "nabla/nn/parameter.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// torch.optim.SGD without dampening or Nesterov: g = grad + wd·w;
/// with momentum, buf = g on the first step, then buf = momentum·buf + g,
/// g = buf; w −= lr·g.
class SGD {
 public:
  /// Throws nabla::Error on a null parameter, lr < 0, momentum < 0 or
  /// weight_decay < 0.
  SGD(std::vector<Parameter*> params, float lr, float momentum = 0.f, float weight_decay = 0.f);
  /// One update of every parameter.
  void step();
  /// Sets every parameter's gradient to zero.
  void zero_grad();
  /// The learning rate (may be changed between steps, e.g. by a schedule).
  float lr() const { return lr_; }
  /// See lr(); throws nabla::Error for lr < 0.
  void set_lr(float lr);
  /// Steps taken so far (the first step seeds the momentum buffers).
  int64_t steps() const { return t_; }
  /// The state a checkpoint must keep besides steps(): the momentum buffers,
  /// one per parameter in order (empty without momentum). Writing into them
  /// and calling set_steps() restores a saved optimiser.
  std::vector<Tensor> state() const { return momentum_; }
  /// Restores steps() from a checkpoint; throws nabla::Error for t < 0.
  void set_steps(int64_t t);

 private:
  std::vector<Parameter*> params_;
  std::vector<Tensor> momentum_;
  float lr_, momentum_coef_, weight_decay_;
  int64_t t_ = 0;
};

/// torch.optim.Adam (not AMSGrad; L2 weight decay added to the gradient,
/// not AdamW): m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
/// w −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
class Adam {
 public:
  /// Throws nabla::Error on a null parameter, lr < 0, a beta outside [0, 1),
  /// eps < 0 or weight_decay < 0.
  Adam(std::vector<Parameter*> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
       float eps = 1e-8f, float weight_decay = 0.f);
  /// One update of every parameter.
  void step();
  /// Sets every parameter's gradient to zero.
  void zero_grad();
  /// The learning rate.
  float lr() const { return lr_; }
  /// See lr(); throws nabla::Error for lr < 0.
  void set_lr(float lr);
  /// Steps taken so far.
  int64_t steps() const { return t_; }
  /// The state a checkpoint must keep besides steps(): the first moments of
  /// every parameter in order, then the second moments. Writing into them
  /// and calling set_steps() restores a saved optimiser.
  std::vector<Tensor> state() const;
  /// Restores steps() from a checkpoint; throws nabla::Error for t < 0.
  void set_steps(int64_t t);

 private:
  std::vector<Parameter*> params_;
  std::vector<Tensor> m_, v_;
  float lr_, beta1_, beta2_, eps_, weight_decay_;
  int64_t t_ = 0;
};

}  // namespace nabla::nn
