#pragma once
/// \file optim.hpp  Optimisers with torch.optim's update rules, updating
/// parameters in place from their gradients.
///
/// State (momentum buffers, Adam's moments) is allocated in the constructor,
/// so step() never allocates. step() does not clear gradients: call
/// zero_grad() (here or on the model) before each backward, as in PyTorch.
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/nn/parameter.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// Base of the optimisers: what a training loop and a checkpoint need.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// One update of every parameter from its gradient.
  virtual void step() = 0;
  /// Sets every parameter's gradient to zero.
  virtual void zero_grad() = 0;
  /// The learning rate (may be changed between steps, e.g. by a schedule).
  virtual float lr() const = 0;
  /// See lr(); throws nabla::Error for lr < 0.
  virtual void set_lr(float lr) = 0;
  /// Steps taken so far.
  virtual int64_t steps() const = 0;
  /// Restores steps() from a checkpoint; throws nabla::Error for t < 0.
  virtual void set_steps(int64_t t) = 0;
  /// The state a checkpoint must keep besides steps() (tensors sharing the
  /// optimiser's storage: writing into them and calling set_steps()
  /// restores a saved optimiser). Possibly empty.
  virtual std::vector<Tensor> state() const = 0;
  /// Name for messages and checkpoints: "SGD", "Adam", "AdamW", "RMSprop".
  virtual std::string name() const = 0;
};

/// torch.optim.SGD without dampening: g = grad + wd·w;
/// with momentum, buf = g on the first step, then buf = momentum·buf + g,
/// and g = buf (nesterov: g = g + momentum·buf); w −= lr·g.
class SGD : public Optimizer {
 public:
  /// Throws nabla::Error on a null parameter, lr < 0, momentum < 0,
  /// weight_decay < 0, or nesterov without momentum (as torch does).
  SGD(std::vector<Parameter*> params, float lr, float momentum = 0.f, float weight_decay = 0.f,
      bool nesterov = false);
  /// One update of every parameter.
  void step() override;
  /// Sets every parameter's gradient to zero.
  void zero_grad() override;
  /// The learning rate (may be changed between steps, e.g. by a schedule).
  float lr() const override { return lr_; }
  /// See lr(); throws nabla::Error for lr < 0.
  void set_lr(float lr) override;
  /// Steps taken so far (the first step seeds the momentum buffers).
  int64_t steps() const override { return t_; }
  /// The state a checkpoint must keep besides steps(): the momentum buffers,
  /// one per parameter in order (empty without momentum). Writing into them
  /// and calling set_steps() restores a saved optimiser.
  std::vector<Tensor> state() const override { return momentum_; }
  std::string name() const override { return "SGD"; }
  /// Restores steps() from a checkpoint; throws nabla::Error for t < 0.
  void set_steps(int64_t t) override;

 private:
  std::vector<Parameter*> params_;
  std::vector<Tensor> momentum_;
  float lr_, momentum_coef_, weight_decay_;
  bool nesterov_;
  int64_t t_ = 0;
};

/// torch.optim.Adam (not AMSGrad; L2 weight decay added to the gradient,
/// not AdamW): m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
/// w −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
class Adam : public Optimizer {
 public:
  /// Throws nabla::Error on a null parameter, lr < 0, a beta outside [0, 1),
  /// eps < 0 or weight_decay < 0.
  Adam(std::vector<Parameter*> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
       float eps = 1e-8f, float weight_decay = 0.f);
  /// One update of every parameter.
  void step() override;
  /// Sets every parameter's gradient to zero.
  void zero_grad() override;
  /// The learning rate.
  float lr() const override { return lr_; }
  /// See lr(); throws nabla::Error for lr < 0.
  void set_lr(float lr) override;
  /// Steps taken so far.
  int64_t steps() const override { return t_; }
  /// The state a checkpoint must keep besides steps(): the first moments of
  /// every parameter in order, then the second moments. Writing into them
  /// and calling set_steps() restores a saved optimiser.
  std::vector<Tensor> state() const override;
  std::string name() const override { return name_; }
  /// Restores steps() from a checkpoint; throws nabla::Error for t < 0.
  void set_steps(int64_t t) override;

 protected:
  /// decoupled: AdamW's decay (w ·= 1 − lr·wd) instead of L2 in the gradient.
  Adam(std::vector<Parameter*> params, float lr, float beta1, float beta2, float eps, float weight_decay,
       bool decoupled, const char* name);

 private:
  std::vector<Parameter*> params_;
  std::vector<Tensor> m_, v_;
  float lr_, beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_ = false;
  const char* name_ = "Adam";
  int64_t t_ = 0;
};

/// torch.optim.AdamW (decoupled weight decay, not AMSGrad): w ·= 1 − lr·wd,
/// then the Adam update with the plain gradient:
/// m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
/// w −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
class AdamW : public Adam {
 public:
  /// Throws nabla::Error on a null parameter, lr < 0, a beta outside [0, 1),
  /// eps < 0 or weight_decay < 0. The decay w ·= 1 − lr·wd follows lr() as
  /// in torch; state() is Adam's (first moments, then second moments).
  AdamW(std::vector<Parameter*> params, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f,
        float eps = 1e-8f, float weight_decay = 1e-2f)
      : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, true, "AdamW") {}
};

/// torch.optim.RMSprop with centered = False: g = grad + wd·w;
/// s = α·s + (1−α)·g²; avg = √s + eps; with momentum, buf = momentum·buf +
/// g/avg and w −= lr·buf, else w −= lr·g/avg (s and buf start at zero).
class RMSprop : public Optimizer {
 public:
  /// Throws nabla::Error on a null parameter, lr < 0, alpha < 0, eps < 0,
  /// weight_decay < 0 or momentum < 0.
  RMSprop(std::vector<Parameter*> params, float lr = 1e-2f, float alpha = 0.99f, float eps = 1e-8f,
          float weight_decay = 0.f, float momentum = 0.f);
  /// One update of every parameter.
  void step() override;
  /// Sets every parameter's gradient to zero.
  void zero_grad() override;
  /// The learning rate.
  float lr() const override { return lr_; }
  /// See lr(); throws nabla::Error for lr < 0.
  void set_lr(float lr) override;
  /// Steps taken so far (the update itself does not depend on it).
  int64_t steps() const override { return t_; }
  /// The square averages of every parameter in order, then (with
  /// momentum) the momentum buffers.
  std::vector<Tensor> state() const override;
  std::string name() const override { return "RMSprop"; }
  /// Restores steps() from a checkpoint; throws nabla::Error for t < 0.
  void set_steps(int64_t t) override;

 private:
  std::vector<Parameter*> params_;
  std::vector<Tensor> square_avg_, momentum_;
  float lr_, alpha_, eps_, weight_decay_, momentum_coef_;
  int64_t t_ = 0;
};

/// torch.nn.utils.clip_grad_norm_ (L2): the norm of all gradients taken
/// together, total = sqrt(Σ over every element of every grad of g²)
/// (summed in double in parameter order over fixed blocks: bitwise the same
/// for any thread count); when coef = max_norm / (total + 1e-6) is below 1,
/// every gradient is multiplied by coef (in float, as torch). Returns the
/// total norm before clipping. Throws nabla::Error on a null parameter or
/// max_norm < 0 (or NaN).
float clip_grad_norm(std::vector<Parameter*> params, float max_norm);

}  // namespace nabla::nn
