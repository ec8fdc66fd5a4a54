#include "nabla/nn/optim.hpp"

#include <cmath>
#include <string>

#include "nabla/error.hpp"
#include "nabla/kernels/optim.hpp"

namespace nabla::nn {

namespace nk = nabla::kernels;

namespace {

void check_params(const char* opt, const std::vector<Parameter*>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i] == nullptr) throw Error(std::string(opt) + ": parameter " + std::to_string(i) + " is null");
    if (params[i]->grad.shape() != params[i]->value.shape())
      throw Error(std::string(opt) + ": parameter " + std::to_string(i) + " has value " +
                  shape_string(params[i]->value.shape()) + " but grad " +
                  shape_string(params[i]->grad.shape()));
  }
}

void check_lr(const char* opt, float lr) {
  if (!(lr >= 0.f)) throw Error(std::string(opt) + ": learning rate " + std::to_string(lr) + " < 0");
}

}  // namespace

SGD::SGD(std::vector<Parameter*> params, float lr, float momentum, float weight_decay, bool nesterov)
    : params_(std::move(params)), lr_(lr), momentum_coef_(momentum), weight_decay_(weight_decay), nesterov_(nesterov) {
  check_params("SGD", params_);
  check_lr("SGD", lr);
  if (!(momentum >= 0.f)) throw Error("SGD: momentum " + std::to_string(momentum) + " < 0");
  if (!(weight_decay >= 0.f))
    throw Error("SGD: weight_decay " + std::to_string(weight_decay) + " < 0");
  if (nesterov && !(momentum > 0.f))
    throw Error("SGD: Nesterov momentum requires momentum > 0 (momentum " + std::to_string(momentum) + ")");
  if (momentum != 0.f)
    for (Parameter* p : params_) momentum_.emplace_back(p->value.shape());
}

void SGD::step() {
  const nk::SgdParams hp{lr_, momentum_coef_, weight_decay_, nesterov_};
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    nk::sgd_update(p.value.numel(), p.value.data(), p.grad.data(),
                   momentum_.empty() ? nullptr : momentum_[i].data(), hp, t_ == 0);
  }
  ++t_;
}

void SGD::zero_grad() {
  for (Parameter* p : params_) p->grad.fill(0.f);
}

void SGD::set_lr(float lr) {
  check_lr("SGD", lr);
  lr_ = lr;
}

void SGD::set_steps(int64_t t) {
  if (t < 0) throw Error("SGD: step count " + std::to_string(t) + " < 0");
  t_ = t;
}

Adam::Adam(std::vector<Parameter*> params, float lr, float beta1, float beta2, float eps, float weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, false, "Adam") {}

Adam::Adam(std::vector<Parameter*> params, float lr, float beta1, float beta2, float eps, float weight_decay,
           bool decoupled, const char* name)
    : params_(std::move(params)),
      lr_(lr),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_(decoupled),
      name_(name) {
  const std::string n = name;
  check_params(name, params_);
  check_lr(name, lr);
  if (!(beta1 >= 0.f && beta1 < 1.f)) throw Error(n + ": beta1 " + std::to_string(beta1) + " not in [0, 1)");
  if (!(beta2 >= 0.f && beta2 < 1.f)) throw Error(n + ": beta2 " + std::to_string(beta2) + " not in [0, 1)");
  if (!(eps >= 0.f)) throw Error(n + ": eps " + std::to_string(eps) + " < 0");
  if (!(weight_decay >= 0.f)) throw Error(n + ": weight_decay " + std::to_string(weight_decay) + " < 0");
  for (Parameter* p : params_) {
    m_.emplace_back(p->value.shape());
    v_.emplace_back(p->value.shape());
  }
}

void Adam::step() {
  ++t_;
  const nk::AdamParams hp{lr_, beta1_, beta2_, eps_, weight_decay_};
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    if (decoupled_) nk::adamw_update(p.value.numel(), p.value.data(), p.grad.data(), m_[i].data(), v_[i].data(), hp, t_);
    else nk::adam_update(p.value.numel(), p.value.data(), p.grad.data(), m_[i].data(), v_[i].data(), hp, t_);
  }
}

void Adam::zero_grad() {
  for (Parameter* p : params_) p->grad.fill(0.f);
}

void Adam::set_lr(float lr) {
  check_lr(name_, lr);
  lr_ = lr;
}

std::vector<Tensor> Adam::state() const {
  std::vector<Tensor> s = m_;
  s.insert(s.end(), v_.begin(), v_.end());
  return s;
}

void Adam::set_steps(int64_t t) {
  if (t < 0) throw Error(std::string(name_) + ": step count " + std::to_string(t) + " < 0");
  t_ = t;
}

RMSprop::RMSprop(std::vector<Parameter*> params, float lr, float alpha, float eps, float weight_decay, float momentum)
    : params_(std::move(params)), lr_(lr), alpha_(alpha), eps_(eps), weight_decay_(weight_decay), momentum_coef_(momentum) {
  check_params("RMSprop", params_);
  check_lr("RMSprop", lr);
  if (!(alpha >= 0.f)) throw Error("RMSprop: alpha " + std::to_string(alpha) + " < 0");
  if (!(eps >= 0.f)) throw Error("RMSprop: eps " + std::to_string(eps) + " < 0");
  if (!(weight_decay >= 0.f))
    throw Error("RMSprop: weight_decay " + std::to_string(weight_decay) + " < 0");
  if (!(momentum >= 0.f)) throw Error("RMSprop: momentum " + std::to_string(momentum) + " < 0");
  for (Parameter* p : params_) {
    square_avg_.emplace_back(p->value.shape());
    if (momentum != 0.f) momentum_.emplace_back(p->value.shape());
  }
}

void RMSprop::step() {
  const nk::RmspropParams hp{lr_, alpha_, eps_, weight_decay_, momentum_coef_};
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    nk::rmsprop_update(p.value.numel(), p.value.data(), p.grad.data(), square_avg_[i].data(),
                       momentum_.empty() ? nullptr : momentum_[i].data(), hp);
  }
  ++t_;
}

void RMSprop::zero_grad() {
  for (Parameter* p : params_) p->grad.fill(0.f);
}

void RMSprop::set_lr(float lr) {
  check_lr("RMSprop", lr);
  lr_ = lr;
}

std::vector<Tensor> RMSprop::state() const {
  std::vector<Tensor> s = square_avg_;
  s.insert(s.end(), momentum_.begin(), momentum_.end());
  return s;
}

void RMSprop::set_steps(int64_t t) {
  if (t < 0) throw Error("RMSprop: step count " + std::to_string(t) + " < 0");
  t_ = t;
}

float clip_grad_norm(std::vector<Parameter*> params, float max_norm) {
  if (!(max_norm >= 0.f)) throw Error("clip_grad_norm: max_norm " + std::to_string(max_norm) + " < 0");
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i] == nullptr) throw Error("clip_grad_norm: parameter " + std::to_string(i) + " is null");
  double sum = 0;  // parameter order; each sum is itself fixed-block (kernels::sum_squares)
  for (Parameter* p : params) sum += nk::sum_squares(p->grad.numel(), p->grad.data());
  const float total = static_cast<float>(std::sqrt(sum));
  // torch: clip_coef = max_norm / (total + 1e-6), clamped to 1, in float.
  const float coef = max_norm / (total + 1e-6f);
  if (coef < 1.f || std::isnan(coef))
    for (Parameter* p : params) nk::scale(p->grad.numel(), p->grad.data(), coef);
  return total;
}

}  // namespace nabla::nn
