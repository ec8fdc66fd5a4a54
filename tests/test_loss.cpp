// Loss kernels fused with their gradients: against the scalar reference,
// float64 maths and finite differences, special values, thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/loss.hpp"

namespace nk = nabla::kernels;
using nabla::test::for_each_isa;

namespace {

std::vector<float> labels_for(int64_t n, int64_t c, uint32_t seed) {
  std::vector<float> l(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) l[r] = static_cast<float>((r * 7 + seed) % c);
  return l;
}

std::vector<float> one_hot(const std::vector<float>& labels, int64_t c) {
  std::vector<float> y(labels.size() * c, 0.f);
  for (size_t r = 0; r < labels.size(); ++r) y[r * c + static_cast<int64_t>(labels[r])] = 1.f;
  return y;
}

// The loss kernels under test as one signature: (n, pred, target, grad).
struct Eltwise {
  const char* name;
  float (*fast)(int64_t, const float*, const float*, float*);
  float (*ref)(int64_t, const float*, const float*, float*);
  float lo, hi;        // prediction range
  bool binary_target;  // targets in {0, 1} (else uniform [0, 1])
};
const Eltwise kEltwise[] = {
    {"bce_with_logits", nk::bce_with_logits, nk::bce_with_logits_reference, -100.f, 100.f, false},
    {"bce", nk::bce, nk::bce_reference, 0.f, 1.f, true},
    {"mse", nk::mse, nk::mse_reference, -10.f, 10.f, false},
};

double worst_loss_rel = 0;

// Gradients (q − y)/N cancel when the prediction q is close to y: the float
// q's own rounding, 1–2 ulp of 1, is then the error floor (scaled by 1/N).
constexpr double kUlp2 = 2.4e-7;

void expect_loss(float got, float ref, const char* what, int64_t n) {
  const double rel = std::fabs(got - ref) / std::max(std::fabs(static_cast<double>(ref)), 1e-30);
  worst_loss_rel = std::max(worst_loss_rel, rel);
  EXPECT_LE(rel, 1e-6) << what << " n=" << n << " got " << got << " ref " << ref;
}

}  // namespace

TEST(SoftmaxCrossEntropy, MatchesReference) {
  for_each_isa([](nabla::Isa) {
    for (int64_t c : {1, 2, 3, 10, 15, 16, 17, 33, 48, 49, 257}) {
      for (int64_t n : {1, 2, 7, 64}) {
        const auto z = nabla::test::uniform(n * c, -20, 20, static_cast<uint32_t>(c + n));
        const auto labels = labels_for(n, c, 3);
        const auto y = one_hot(labels, c);
        std::vector<float> g(z.size()), gr(z.size()), gp(z.size());
        const float l = nk::softmax_cross_entropy(n, c, z.data(), labels.data(), g.data());
        const float lr = nk::softmax_cross_entropy_reference(n, c, z.data(), labels.data(), gr.data());
        const float lp = nk::softmax_cross_entropy_probs(n, c, z.data(), y.data(), gp.data());
        expect_loss(l, lr, "indices", n);
        expect_loss(lp, lr, "one-hot", n);
        for (size_t i = 0; i < z.size(); ++i) {
          ASSERT_NEAR(g[i], gr[i], 1e-6 * std::fabs(gr[i]) + kUlp2 / n) << "c=" << c << " n=" << n << " i=" << i;
          ASSERT_NEAR(gp[i], gr[i], 1e-6 * std::fabs(gr[i]) + kUlp2 / n) << "c=" << c << " n=" << n << " i=" << i;
        }
      }
    }
    // Soft targets: gradient (softmax·Σy − y)/n.
    const int64_t n = 3, c = 5;
    const auto z = nabla::test::uniform(n * c, -4, 4, 5);
    const auto y = nabla::test::uniform(n * c, 0, 1, 6);
    std::vector<float> g(z.size()), gr(z.size());
    expect_loss(nk::softmax_cross_entropy_probs(n, c, z.data(), y.data(), g.data()),
                nk::softmax_cross_entropy_probs_reference(n, c, z.data(), y.data(), gr.data()), "soft", n);
    for (size_t i = 0; i < z.size(); ++i) EXPECT_NEAR(g[i], gr[i], 1e-6 * std::fabs(gr[i]) + 1e-8);
  });
}

TEST(SoftmaxCrossEntropy, GradientIsFiniteDifferenceOfLoss) {
  const int64_t n = 4, c = 10;
  const auto z0 = nabla::test::uniform(n * c, -3, 3, 8);
  const auto labels = labels_for(n, c, 1);
  std::vector<float> g(z0.size()), scratch(z0.size());
  nk::softmax_cross_entropy(n, c, z0.data(), labels.data(), g.data());
  for (size_t i = 0; i < z0.size(); ++i) {
    // Central differences of the float64 loss.
    auto L = [&](double dz) {
      double total = 0;
      for (int64_t r = 0; r < n; ++r) {
        double m = -INFINITY, s = 0;
        auto zz = [&](int64_t j) { return z0[r * c + j] + (static_cast<size_t>(r * c + j) == i ? dz : 0.0); };
        for (int64_t j = 0; j < c; ++j) m = std::max(m, zz(j));
        for (int64_t j = 0; j < c; ++j) s += std::exp(zz(j) - m);
        total += m + std::log(s) - zz(static_cast<int64_t>(labels[r]));
      }
      return total / n;
    };
    EXPECT_NEAR(g[i], (L(1e-5) - L(-1e-5)) / 2e-5, 1e-6) << "i=" << i;
  }
}

TEST(SoftmaxCrossEntropy, SpecialValuesAndErrors) {
  std::vector<float> z = {1000.f, -1000.f, 0.f, 0.f}, labels = {1.f, 0.f}, g(4);
  const float l = nk::softmax_cross_entropy(2, 2, z.data(), labels.data(), g.data());
  EXPECT_FLOAT_EQ(l, (2000.f + std::log(2.f)) / 2);  // log-sum-exp: no overflow
  EXPECT_FLOAT_EQ(g[0], 0.5f);
  EXPECT_FLOAT_EQ(g[1], -0.5f);
  z[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(nk::softmax_cross_entropy(2, 2, z.data(), labels.data(), g.data())));
  EXPECT_TRUE(std::isnan(g[2]) && std::isnan(g[3]));
  labels[1] = 2.f;
  EXPECT_THROW(nk::softmax_cross_entropy(2, 2, z.data(), labels.data(), g.data()), nabla::Error);
  labels[1] = 0.5f;
  EXPECT_THROW(nk::softmax_cross_entropy(2, 2, z.data(), labels.data(), g.data()), nabla::Error);
  EXPECT_THROW(nk::softmax_cross_entropy(-1, 2, z.data(), labels.data(), g.data()), nabla::Error);
  EXPECT_THROW(nk::softmax_cross_entropy(2, 2, z.data(), nullptr, g.data()), nabla::Error);
  EXPECT_TRUE(std::isnan(nk::softmax_cross_entropy(0, 2, nullptr, nullptr, nullptr)));
}

TEST(EltwiseLoss, MatchesReferenceAllSizes) {
  for_each_isa([](nabla::Isa) {
    for (const auto& k : kEltwise) {
      for (int64_t n : nabla::test::test_sizes()) {
        if (n == 0) {
          EXPECT_TRUE(std::isnan(k.fast(0, nullptr, nullptr, nullptr))) << k.name;
          continue;
        }
        const auto p = nabla::test::uniform(n, k.lo, k.hi, static_cast<uint32_t>(n));
        auto y = nabla::test::uniform(n, 0, 1, static_cast<uint32_t>(n + 1));
        if (k.binary_target)
          for (auto& v : y) v = v < 0.5f ? 0.f : 1.f;
        std::vector<float> g(p.size()), gr(p.size());
        expect_loss(k.fast(n, p.data(), y.data(), g.data()), k.ref(n, p.data(), y.data(), gr.data()), k.name, n);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_NEAR(g[i], gr[i], 2e-6 * std::fabs(gr[i]) + kUlp2 / n) << k.name << " n=" << n << " i=" << i;
      }
    }
  });
  std::printf("[ losses   ] worst relative loss error vs float64 %.3g\n", worst_loss_rel);
}

TEST(EltwiseLoss, GradientIsFiniteDifferenceOfLoss) {
  const int64_t n = 6;
  const float p0[n] = {-3.f, -0.5f, 0.2f, 0.45f, 0.9f, 2.f};
  const float y[n] = {0.f, 1.f, 0.f, 1.f, 1.f, 0.f};
  for (const auto& k : kEltwise) {
    std::vector<float> p(p0, p0 + n), g(n), scratch(n);
    if (k.lo == 0.f)
      for (auto& v : p) v = 0.05f + 0.9f * (v + 3.f) / 5.f;  // into (0, 1) for bce
    k.fast(n, p.data(), y, g.data());
    for (int64_t i = 0; i < n; ++i) {
      const float h = 1e-2f * std::max(1.f, std::fabs(p[i])) * (k.lo == 0.f ? 0.1f : 1.f);
      std::vector<float> pp = p, pm = p;
      pp[i] += h;
      pm[i] -= h;
      const double fd = (static_cast<double>(k.ref(n, pp.data(), y, scratch.data())) -
                         k.ref(n, pm.data(), y, scratch.data())) / (static_cast<double>(pp[i]) - pm[i]);
      EXPECT_NEAR(g[i], fd, 2e-3 * std::max(1.0, std::fabs(fd))) << k.name << " i=" << i;
    }
  }
}

TEST(EltwiseLoss, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> g(4);
  // BCE with logits: ±100 are finite, stable.
  const float z[4] = {100.f, -100.f, 100.f, -100.f}, yz[4] = {1.f, 0.f, 0.f, 1.f};
  EXPECT_NEAR(nk::bce_with_logits(4, z, yz, g.data()), 50.f, 1e-4);
  EXPECT_FLOAT_EQ(g[2], 0.25f);
  EXPECT_FLOAT_EQ(g[3], -0.25f);
  // BCE from probabilities: the log clamp at −100.
  const float p[2] = {0.f, 1.f}, yp[2] = {1.f, 0.f};
  EXPECT_FLOAT_EQ(nk::bce(2, p, yp, g.data()), 100.f);
  EXPECT_TRUE(std::isfinite(g[0]) && std::isfinite(g[1]));
  const float pn[2] = {nan, 0.5f};
  EXPECT_TRUE(std::isnan(nk::bce(2, pn, yp, g.data())));
  EXPECT_TRUE(std::isnan(g[0]));
  const float m[2] = {inf, 1.f};
  EXPECT_TRUE(std::isinf(nk::mse(2, m, yp, g.data())));
  const float zn[2] = {nan, 1.f};
  EXPECT_TRUE(std::isnan(nk::bce_with_logits(2, zn, yp, g.data())));
  EXPECT_TRUE(std::isnan(g[0]));
  EXPECT_THROW(nk::mse(-3, m, yp, g.data()), nabla::Error);
  EXPECT_THROW(nk::bce(2, nullptr, yp, g.data()), nabla::Error);
}

TEST(Loss, ThreadCountBitwise) {
  for_each_isa([](nabla::Isa) {
    const int64_t n = (int64_t{1} << 20) + 5;
    const auto z = nabla::test::uniform(n, -5, 5, 21);
    const auto y = nabla::test::uniform(n, 0, 1, 22);
    for (const auto& k : kEltwise) {
      const auto p = k.lo == 0.f ? y : z;
      std::vector<float> g0;
      float l0 = 0;
      nabla::test::for_each_thread_count([&](int t) {
        std::vector<float> g(p.size());
        const float l = k.fast(n, p.data(), y.data(), g.data());
        if (t == 1) {
          l0 = l;
          g0 = g;
        }
        EXPECT_EQ(std::memcmp(&l, &l0, 4), 0) << k.name;
        EXPECT_TRUE(nabla::test::bitwise_equal(g, g0)) << k.name;
      });
    }
    const int64_t rows = 30011, c = 10;
    const auto logits = nabla::test::uniform(rows * c, -5, 5, 23);
    const auto labels = labels_for(rows, c, 2);
    float l0 = 0;
    nabla::test::for_each_thread_count([&](int t) {
      std::vector<float> g(logits.size());
      const float l = nk::softmax_cross_entropy(rows, c, logits.data(), labels.data(), g.data());
      if (t == 1) l0 = l;
      EXPECT_EQ(std::memcmp(&l, &l0, 4), 0);
    });
  });
}
