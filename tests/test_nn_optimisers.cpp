// The optimisers SGD (Nesterov), AdamW and RMSprop, the learning-rate
// schedules and gradient clipping against float64 references of torch's
// rules, written here independently of src/ (50 steps, 1e-5 relative).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <numbers>
#include <vector>

#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/schedule.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;

namespace {

// Two parameters (a weight [7, 37], a bias [37]: odd sizes, SIMD tails) and
// their float64 copy; gradients drawn per step, the same for both.
struct Problem {
  nn::Parameter w{Tensor({7, 37}), Tensor({7, 37})}, b{Tensor({37}), Tensor({37})};
  std::vector<double> ref;  // w then b
  Problem() {
    w.value = Tensor::uniform({7, 37}, -1.f, 1.f, 1);
    b.value = Tensor::uniform({37}, -1.f, 1.f, 2);
    for (nn::Parameter* p : params())
      for (int64_t i = 0; i < p->value.numel(); ++i) ref.push_back(p->value.data()[i]);
  }
  std::vector<nn::Parameter*> params() { return {&w, &b}; }
  // Gradients of step t into the parameters; returns them as doubles.
  std::vector<double> grads(int t) {
    std::vector<double> g;
    uint64_t seed = 100 + static_cast<uint64_t>(t);
    for (nn::Parameter* p : params()) {
      p->grad = Tensor::uniform(p->value.shape(), -1.f, 1.f, seed++);
      for (int64_t i = 0; i < p->grad.numel(); ++i) g.push_back(p->grad.data()[i]);
    }
    return g;
  }
  void expect_close(double rel, const char* what, int step) {
    size_t k = 0;
    for (nn::Parameter* p : params())
      for (int64_t i = 0; i < p->value.numel(); ++i, ++k)
        ASSERT_NEAR(p->value.data()[i], ref[k], rel * std::max(1.0, std::fabs(ref[k])))
            << what << " step " << step << " element " << k;
  }
};

// Runs 50 steps of opt against ref_step(w, g, t) (t = 1, 2, ...).
void run_against_reference(const char* what, Problem& pb, nn::Optimizer& opt,
                           const std::function<void(std::vector<double>&, const std::vector<double>&, int)>& ref_step) {
  for (int t = 1; t <= 50; ++t) {
    const auto g = pb.grads(t);
    opt.step();
    ref_step(pb.ref, g, t);
    pb.expect_close(1e-5, what, t);
  }
  EXPECT_EQ(opt.steps(), 50);
}

}  // namespace

TEST(Optimisers, SgdNesterovMatchesTorchRule) {
  Problem pb;
  const double lr = 0.05, mom = 0.9, wd = 1e-2;
  nn::SGD opt(pb.params(), 0.05f, 0.9f, 1e-2f, true);
  EXPECT_EQ(opt.name(), "SGD");
  std::vector<double> buf(pb.ref.size());
  // torch.optim.SGD(nesterov=True): g += wd·w; buf = g (first) else mom·buf + g; g += mom·buf; w −= lr·g.
  run_against_reference("SGD nesterov", pb, opt, [&](std::vector<double>& w, const std::vector<double>& gr, int t) {
    for (size_t i = 0; i < w.size(); ++i) {
      double g = gr[i] + wd * w[i];
      buf[i] = t == 1 ? g : mom * buf[i] + g;
      g += mom * buf[i];
      w[i] -= lr * g;
    }
  });
  EXPECT_EQ(opt.state().size(), 2u);
  EXPECT_THROW(nn::SGD(pb.params(), 0.1f, 0.f, 0.f, true), nabla::Error);  // torch: Nesterov needs momentum
}

TEST(Optimisers, AdamWMatchesTorchRule) {
  for (double wd : {1e-2, 0.0, 0.3}) {
    SCOPED_TRACE(wd);
    Problem pb;
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    nn::AdamW opt(pb.params(), 1e-2f, 0.9f, 0.999f, 1e-8f, static_cast<float>(wd));
    EXPECT_EQ(opt.name(), "AdamW");
    std::vector<double> m(pb.ref.size()), v(pb.ref.size());
    // torch.optim.AdamW: w ·= 1 − lr·wd; m, v moving averages of g; bias-corrected step.
    run_against_reference("AdamW", pb, opt, [&](std::vector<double>& w, const std::vector<double>& g, int t) {
      for (size_t i = 0; i < w.size(); ++i) {
        w[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
        w[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + eps);
      }
    });
    EXPECT_EQ(opt.state().size(), 4u);
  }
  Problem pb;
  nn::AdamW defaults(pb.params());  // torch's defaults: lr 1e-3, weight_decay 1e-2
  EXPECT_EQ(defaults.lr(), 1e-3f);
  EXPECT_THROW(nn::AdamW(pb.params(), 1e-3f, 1.f), nabla::Error);
  EXPECT_THROW(nn::AdamW(pb.params(), 1e-3f, 0.9f, 0.999f, 1e-8f, -1.f), nabla::Error);
  EXPECT_THROW(nn::AdamW({nullptr}), nabla::Error);
}

TEST(Optimisers, RmspropMatchesTorchRule) {
  struct Hp {
    double lr, alpha, eps, wd, mom;
  };
  for (const Hp& h : {Hp{1e-2, 0.99, 1e-8, 0, 0}, Hp{1e-3, 0.9, 1e-6, 1e-2, 0.9}}) {
    SCOPED_TRACE(h.mom);
    Problem pb;
    nn::RMSprop opt(pb.params(), static_cast<float>(h.lr), static_cast<float>(h.alpha), static_cast<float>(h.eps),
                    static_cast<float>(h.wd), static_cast<float>(h.mom));
    EXPECT_EQ(opt.name(), "RMSprop");
    std::vector<double> sq(pb.ref.size()), buf(pb.ref.size());
    // torch.optim.RMSprop(centered=False): g += wd·w; s = α·s + (1−α)·g²; avg = √s + eps;
    // momentum: buf = mom·buf + g/avg, w −= lr·buf; else w −= lr·g/avg.
    run_against_reference("RMSprop", pb, opt, [&](std::vector<double>& w, const std::vector<double>& gr, int) {
      for (size_t i = 0; i < w.size(); ++i) {
        const double g = gr[i] + h.wd * w[i];
        sq[i] = h.alpha * sq[i] + (1 - h.alpha) * g * g;
        const double avg = std::sqrt(sq[i]) + h.eps;
        if (h.mom > 0) {
          buf[i] = h.mom * buf[i] + g / avg;
          w[i] -= h.lr * buf[i];
        } else {
          w[i] -= h.lr * g / avg;
        }
      }
    });
    EXPECT_EQ(opt.state().size(), h.mom > 0 ? 4u : 2u);
  }
  Problem pb;
  nn::RMSprop defaults(pb.params());
  EXPECT_EQ(defaults.lr(), 1e-2f);
  EXPECT_THROW(nn::RMSprop(pb.params(), -1.f), nabla::Error);
  EXPECT_THROW(nn::RMSprop(pb.params(), 1e-2f, -0.5f), nabla::Error);
  EXPECT_THROW(nn::RMSprop(pb.params(), 1e-2f, 0.99f, 1e-8f, 0.f, -0.1f), nabla::Error);
}

TEST(Optimisers, StateRestoresAnInterruptedRun) {
  // Writing state() and set_steps() into a fresh optimiser continues
  // bitwise as the uninterrupted one, for every optimiser.
  using Make = std::function<std::unique_ptr<nn::Optimizer>(std::vector<nn::Parameter*>)>;
  const std::vector<Make> makes = {
      [](auto p) { return std::make_unique<nn::SGD>(p, 0.05f, 0.9f, 0.f, true); },
      [](auto p) { return std::make_unique<nn::AdamW>(p, 1e-2f); },
      [](auto p) { return std::make_unique<nn::RMSprop>(p, 1e-2f, 0.99f, 1e-8f, 0.f, 0.5f); }};
  for (const Make& make : makes) {
    Problem a, b;
    auto oa = make(a.params()), ob = make(b.params());
    SCOPED_TRACE(oa->name());
    for (int t = 1; t <= 3; ++t) {
      a.grads(t);
      b.grads(t);
      oa->step();
      ob->step();
    }
    Problem c;  // a fresh run restored from b's state
    c.w.value.copy_from(b.w.value);
    c.b.value.copy_from(b.b.value);
    auto oc = make(c.params());
    const auto from = ob->state();
    auto to = oc->state();
    ASSERT_EQ(from.size(), to.size());
    for (size_t i = 0; i < from.size(); ++i) to[i].copy_from(from[i]);
    oc->set_steps(ob->steps());
    for (int t = 4; t <= 6; ++t) {
      a.grads(t);
      c.grads(t);
      oa->step();
      oc->step();
    }
    EXPECT_EQ(std::memcmp(a.w.value.data(), c.w.value.data(), sizeof(float) * 7 * 37), 0);
    EXPECT_EQ(std::memcmp(a.b.value.data(), c.b.value.data(), sizeof(float) * 37), 0);
  }
}

// ---- schedules ---------------------------------------------------------------

TEST(Schedules, StepLRMatchesTorch) {
  Problem pb;
  nn::SGD opt(pb.params(), 0.1f);
  nn::StepLR s(opt, 3, 0.5f);
  EXPECT_EQ(s.epoch(), 0);
  EXPECT_EQ(opt.lr(), 0.1f);
  // torch: lr = base·γ^⌊epoch/step_size⌋ after `epoch` calls of step().
  for (int e = 1; e <= 50; ++e) {
    s.step();
    EXPECT_EQ(s.epoch(), e);
    const double want = 0.1 * std::pow(0.5, e / 3);
    EXPECT_NEAR(opt.lr(), want, 1e-5 * want) << "epoch " << e;
  }
  EXPECT_EQ(s.name(), "StepLR");
  EXPECT_THROW(nn::StepLR(opt, 0), nabla::Error);
  EXPECT_THROW(nn::StepLR(opt, 2, -0.1f), nabla::Error);
}

TEST(Schedules, CosineAnnealingMatchesTorchClosedForm) {
  Problem pb;
  nn::AdamW opt(pb.params(), 1e-2f);
  nn::CosineAnnealingLR s(opt, 20, 1e-4f);
  EXPECT_EQ(opt.lr(), 1e-2f);
  for (int e = 1; e <= 50; ++e) {  // past t_max the closed form goes on (back up)
    s.step();
    const double want = 1e-4 + (1e-2 - 1e-4) * (1 + std::cos(std::numbers::pi * e / 20)) / 2;
    EXPECT_NEAR(opt.lr(), want, 1e-5 * want) << "epoch " << e;
  }
  EXPECT_NEAR(s.lr_at(20), 1e-4, 1e-10);
  EXPECT_THROW(nn::CosineAnnealingLR(opt, 0), nabla::Error);
  EXPECT_THROW(nn::CosineAnnealingLR(opt, 10, -1.f), nabla::Error);
}

TEST(Schedules, LinearWarmupMatchesTorchLinearLR) {
  Problem pb;
  nn::SGD opt(pb.params(), 0.1f, 0.9f);
  nn::LinearWarmup w(opt, 5, 0.1f);
  EXPECT_NEAR(opt.lr(), 0.01, 1e-9);  // start_factor·base at epoch 0
  for (int e = 1; e <= 50; ++e) {
    w.step();
    const double want = 0.1 * (0.1 + 0.9 * std::min(e, 5) / 5.0);
    EXPECT_NEAR(opt.lr(), want, 1e-5 * want) << "epoch " << e;
  }
  EXPECT_THROW(nn::LinearWarmup(opt, 0, 0.5f), nabla::Error);
  EXPECT_THROW(nn::LinearWarmup(opt, 3, 0.f), nabla::Error);
  EXPECT_THROW(nn::LinearWarmup(opt, 3, 1.5f), nabla::Error);
}

TEST(Schedules, WarmupChainsWithCosineAndStep) {
  Problem pb;
  nn::SGD opt(pb.params(), 0.1f);
  nn::CosineAnnealingLR c(opt, 10);
  c.set_warmup(3, 0.25f);
  EXPECT_NEAR(opt.lr(), 0.025, 1e-9);
  for (int e = 1; e <= 12; ++e) {
    c.step();
    const double want = 0.1 * (1 + std::cos(std::numbers::pi * e / 10)) / 2 * (0.25 + 0.75 * std::min(e, 3) / 3.0);
    EXPECT_NEAR(opt.lr(), want, 1e-5 * want + 1e-12) << "epoch " << e;
  }
  nn::SGD opt2(pb.params(), 0.1f);
  nn::StepLR s(opt2, 2, 0.1f);
  s.set_warmup(2, 0.5f);
  s.step();
  EXPECT_NEAR(opt2.lr(), 0.1 * 0.75, 1e-8);
  EXPECT_THROW(s.set_warmup(0, 0.5f), nabla::Error);
}

TEST(Schedules, SetEpochRestoresExactly) {
  Problem pb;
  nn::SGD a(pb.params(), 0.1f), b(pb.params(), 0.1f);
  nn::CosineAnnealingLR sa(a, 7, 1e-3f), sb(b, 7, 1e-3f);
  sa.set_warmup(2, 0.1f);
  sb.set_warmup(2, 0.1f);
  for (int e = 0; e < 5; ++e) sa.step();
  sb.set_epoch(5);
  EXPECT_EQ(sb.epoch(), 5);
  EXPECT_EQ(a.lr(), b.lr());  // bitwise: the closed form of the epoch
  EXPECT_THROW(sb.set_epoch(-1), nabla::Error);
}

// ---- gradient clipping -------------------------------------------------------------

TEST(ClipGradNorm, MatchesTorch) {
  for (double max_norm : {0.5, 1e3}) {
    SCOPED_TRACE(max_norm);
    Problem pb;
    const auto g = pb.grads(1);
    double sq = 0;
    for (double x : g) sq += x * x;
    const double total = std::sqrt(sq);
    const float got = nn::clip_grad_norm(pb.params(), static_cast<float>(max_norm));
    EXPECT_NEAR(got, total, 1e-6 * total);
    // torch: coef = max_norm / (total + 1e-6), clamped to 1.
    const double coef = std::min(1.0, max_norm / (total + 1e-6));
    size_t k = 0;
    for (nn::Parameter* p : pb.params())
      for (int64_t i = 0; i < p->grad.numel(); ++i, ++k)
        ASSERT_NEAR(p->grad.data()[i], g[k] * coef, 1e-6 * std::fabs(g[k])) << k;
  }
  Problem pb;
  EXPECT_THROW(nn::clip_grad_norm(pb.params(), -1.f), nabla::Error);
  EXPECT_THROW(nn::clip_grad_norm({nullptr}, 1.f), nabla::Error);
  EXPECT_EQ(nn::clip_grad_norm({}, 1.f), 0.f);
}

TEST(ClipGradNorm, BitwiseForAnyThreadCount) {
  // Large enough for several blocks and the parallel path.
  nn::Parameter big{Tensor({3 << 20}), Tensor::uniform({3 << 20}, -1.f, 1.f, 9)}, small{Tensor({5}), Tensor::uniform({5}, -1.f, 1.f, 8)};
  const Tensor g0 = Tensor::uniform({3 << 20}, -1.f, 1.f, 9), s0 = Tensor::uniform({5}, -1.f, 1.f, 8);
  float n0 = 0;
  std::vector<float> first;
  nabla::test::for_each_thread_count([&](int t) {
    big.grad.copy_from(g0);
    small.grad.copy_from(s0);
    const float n = nn::clip_grad_norm({&big, &small}, 1.f);
    std::vector<float> now(big.grad.data(), big.grad.data() + big.grad.numel());
    if (t == 1) {
      n0 = n;
      first = now;
    }
    EXPECT_EQ(n, n0);
    EXPECT_TRUE(nabla::test::bitwise_equal(now, first));
  });
}
