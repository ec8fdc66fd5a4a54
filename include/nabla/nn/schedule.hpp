#pragma once
/// \file schedule.hpp  Learning-rate schedules with torch.optim.lr_scheduler's
/// rules, stepped once per epoch like torch's.
///
///     nn::AdamW opt(model.parameters(), 1e-3f);
///     nn::CosineAnnealingLR sched(opt, /*t_max=*/epochs);
///     sched.set_warmup(2, 0.1f);           // optional linear warm-up
///     for (int e = 0; e < epochs; ++e) {
///       train_one_epoch(model, opt);        // opt.step() per batch
///       sched.step();                       // per epoch, as in torch
///     }
///
/// A schedule takes the optimiser's learning rate at construction as its
/// base, and sets lr = lr_at(epoch()) at construction and on every step()
/// (epoch() counts the step() calls, torch's last_epoch). Every rate is a
/// closed form of the epoch, computed in double and rounded to float once:
/// a checkpoint keeps epoch() alone, and set_epoch() on a schedule built
/// over an optimiser with the same base rate restores it exactly.
///
/// Linear warm-up (set_warmup, or the LinearWarmup schedule): the rate is
/// multiplied by start_factor + (1 − start_factor)·min(epoch, W)/W, torch's
/// LinearLR(start_factor, end_factor = 1, total_iters = W). On another
/// schedule it multiplies that schedule's closed form, as torch's
/// ChainedScheduler([LinearLR(...), schedule]) does with chainable forms.
#include <cstdint>
#include <string>

#include "nabla/nn/optim.hpp"

namespace nabla::nn {

/// Base of the schedules: what a training loop and a checkpoint need.
class Schedule {
 public:
  virtual ~Schedule() = default;
  Schedule(const Schedule&) = delete;
  Schedule& operator=(const Schedule&) = delete;
  /// One epoch done: epoch() += 1, then the optimiser's lr = lr_at(epoch()).
  void step();
  /// Epochs stepped so far (torch's last_epoch; 0 after construction).
  int64_t epoch() const { return epoch_; }
  /// Restores epoch() (from a checkpoint) and sets the optimiser's lr to
  /// lr_at(epoch); throws nabla::Error for epoch < 0.
  void set_epoch(int64_t epoch);
  /// The optimiser's learning rate when the schedule was made.
  float base_lr() const { return base_lr_; }
  /// The learning rate of an epoch: the schedule's closed form times the
  /// warm-up factor (rounded to float).
  float lr_at(int64_t epoch) const;
  /// Adds a linear warm-up over the first `epochs` epochs from
  /// start_factor·rate (see the file comment), and sets the optimiser's lr
  /// for the current epoch. Throws nabla::Error for epochs < 1 or
  /// start_factor outside (0, 1].
  void set_warmup(int64_t epochs, float start_factor);
  /// Warm-up epochs (0: none) and start factor.
  int64_t warmup_epochs() const { return warmup_; }
  float warmup_start_factor() const { return start_factor_; }
  /// "StepLR", "CosineAnnealingLR", "LinearWarmup".
  virtual std::string name() const = 0;

 protected:
  explicit Schedule(Optimizer& opt);
  /// The schedule's own rate at an epoch, in double, without warm-up.
  virtual double rate(int64_t epoch) const = 0;
  /// Sets the optimiser's lr for the current epoch (the constructors of the
  /// derived classes call it once their parameters are set).
  void apply();

 private:
  Optimizer& opt_;
  float base_lr_;
  int64_t epoch_ = 0;
  int64_t warmup_ = 0;
  float start_factor_ = 1.f;
};

/// torch.optim.lr_scheduler.StepLR: lr = base·gamma^⌊epoch/step_size⌋.
class StepLR : public Schedule {
 public:
  /// Throws nabla::Error for step_size < 1 or gamma < 0 (or NaN).
  StepLR(Optimizer& opt, int64_t step_size, float gamma = 0.1f);
  std::string name() const override { return "StepLR"; }
  int64_t step_size() const { return step_size_; }
  float gamma() const { return gamma_; }

 protected:
  double rate(int64_t epoch) const override;

 private:
  int64_t step_size_;
  float gamma_;
};

/// torch.optim.lr_scheduler.CosineAnnealingLR, closed form:
/// lr = eta_min + (base − eta_min)·(1 + cos(π·epoch/t_max))/2 (past t_max
/// the cosine goes on, as torch's closed form does).
class CosineAnnealingLR : public Schedule {
 public:
  /// Throws nabla::Error for t_max < 1 or eta_min < 0 (or NaN).
  CosineAnnealingLR(Optimizer& opt, int64_t t_max, float eta_min = 0.f);
  std::string name() const override { return "CosineAnnealingLR"; }
  int64_t t_max() const { return t_max_; }
  float eta_min() const { return eta_min_; }

 protected:
  double rate(int64_t epoch) const override;

 private:
  int64_t t_max_;
  float eta_min_;
};

/// Linear warm-up alone, torch's LinearLR(start_factor, end_factor = 1,
/// total_iters = warmup_epochs): base·(start_factor + (1 − start_factor)·
/// min(epoch, warmup_epochs)/warmup_epochs), then the base rate.
class LinearWarmup : public Schedule {
 public:
  /// Throws nabla::Error for warmup_epochs < 1 or start_factor outside (0, 1].
  LinearWarmup(Optimizer& opt, int64_t warmup_epochs, float start_factor = 1.f / 3);
  std::string name() const override { return "LinearWarmup"; }

 protected:
  double rate(int64_t epoch) const override;
};

}  // namespace nabla::nn
