#include "nabla/nn/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "nabla/error.hpp"

namespace nabla::nn {

Schedule::Schedule(Optimizer& opt) : opt_(opt), base_lr_(opt.lr()) {}

void Schedule::apply() { opt_.set_lr(lr_at(epoch_)); }

void Schedule::step() {
  ++epoch_;
  apply();
}

void Schedule::set_epoch(int64_t epoch) {
  if (epoch < 0) throw Error(name() + ": epoch " + std::to_string(epoch) + " < 0");
  epoch_ = epoch;
  apply();
}

float Schedule::lr_at(int64_t epoch) const {
  double r = rate(epoch);
  if (warmup_ > 0) {
    const double f = start_factor_;
    r *= f + (1 - f) * static_cast<double>(std::min(epoch, warmup_)) / static_cast<double>(warmup_);
  }
  return static_cast<float>(r);
}

void Schedule::set_warmup(int64_t epochs, float start_factor) {
  if (epochs < 1) throw Error(name() + ": warm-up of " + std::to_string(epochs) + " epochs (at least 1)");
  if (!(start_factor > 0.f && start_factor <= 1.f))
    throw Error(name() + ": warm-up start factor " + std::to_string(start_factor) + " not in (0, 1]");
  warmup_ = epochs;
  start_factor_ = start_factor;
  apply();
}

StepLR::StepLR(Optimizer& opt, int64_t step_size, float gamma)
    : Schedule(opt), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) throw Error("StepLR: step_size " + std::to_string(step_size) + " (at least 1)");
  if (!(gamma >= 0.f)) throw Error("StepLR: gamma " + std::to_string(gamma) + " < 0");
  apply();
}

double StepLR::rate(int64_t epoch) const {
  return static_cast<double>(base_lr()) * std::pow(static_cast<double>(gamma_), static_cast<double>(epoch / step_size_));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max, float eta_min)
    : Schedule(opt), t_max_(t_max), eta_min_(eta_min) {
  if (t_max < 1) throw Error("CosineAnnealingLR: t_max " + std::to_string(t_max) + " (at least 1)");
  if (!(eta_min >= 0.f)) throw Error("CosineAnnealingLR: eta_min " + std::to_string(eta_min) + " < 0");
  apply();
}

double CosineAnnealingLR::rate(int64_t epoch) const {
  const double lo = eta_min_, base = base_lr();
  return lo + (base - lo) * (1 + std::cos(std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max_))) / 2;
}

LinearWarmup::LinearWarmup(Optimizer& opt, int64_t warmup_epochs, float start_factor) : Schedule(opt) {
  set_warmup(warmup_epochs, start_factor);
}

double LinearWarmup::rate(int64_t) const { return base_lr(); }

}  // namespace nabla::nn
