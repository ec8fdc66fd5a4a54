// Batch-norm and dropout kernels against their scalar references, every
// ISA, edge sizes of both layouts ([n, c, hw] with hw > 1, and [N, F]), every
// activation fused; bitwise independence of the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "activation_test_util.hpp"
#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/norm.hpp"

namespace nk = nabla::kernels;
using nabla::test::uniform;

namespace {

std::vector<nk::NormShape> shapes() {
  std::vector<nk::NormShape> s;
  for (int64_t hw : {1, 2, 7, 15, 16, 17, 33, 49, 300})
    for (int64_t c : {1, 3, 16, 17}) s.push_back({hw == 300 ? 2 : 3, c, hw});
  for (int64_t c : {1, 5, 15, 16, 17, 31, 33, 48, 65}) s.push_back({2, c, 1});
  s.push_back({300, 7, 1});   // more rows than one sum block
  s.push_back({2, 3, 1000});  // more values than one sum block
  return s;
}

double tol_rel(double got, double want) { return std::fabs(got - want) / std::max(1.0, std::fabs(want)); }

// fn(f, s) on every ISA, for no activation and every real one, on every
// shape of shapes() (both layouts), each case named in the failure trace.
template <class F>
void for_each_activation_and_shape(F&& fn) {
  nabla::test::for_each_isa([&](nabla::Isa) {
    auto acts = nabla::test::real_activations();
    acts.insert(acts.begin(), nk::Activation::None);
    for (const nk::Activation f : acts) {
      SCOPED_TRACE(nabla::test::label(f));
      for (const nk::NormShape& s : shapes()) {
        SCOPED_TRACE(std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw));
        fn(f, s);
      }
    }
  });
}

}  // namespace

TEST(BatchNorm, StatsMatchReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (const nk::NormShape& s : shapes()) {
      SCOPED_TRACE(std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw));
      auto x = uniform(s.numel(), -1, 3, 4);
      for (size_t i = 0; i < x.size(); ++i) x[i] += 100.f;  // a large mean must not cancel the variance
      std::vector<double> m(s.c), v(s.c), mr(s.c), vr(s.c);
      nk::batchnorm_stats(s, x.data(), m.data(), v.data());
      nk::batchnorm_stats_reference(s, x.data(), mr.data(), vr.data());
      for (int64_t c = 0; c < s.c; ++c) {
        EXPECT_LE(tol_rel(m[c], mr[c]), 1e-7) << "mean c=" << c;
        EXPECT_LE(std::fabs(v[c] - vr[c]) / std::max(1e-3, vr[c]), 1e-5) << "var c=" << c;
      }
    }
  });
}

TEST(BatchNorm, ApplyAndBackwardMatchReference) {
  for_each_activation_and_shape([](nk::Activation f, const nk::NormShape& s) {
    const auto x = uniform(s.numel(), -2, 2, 5), dy = uniform(s.numel(), -1, 1, 6);
    const auto scale = uniform(s.c, 0.5, 2, 7), shift = uniform(s.c, -1, 1, 8);
    std::vector<float> y(x.size()), yr(x.size());
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), f, y.data());
    nk::batchnorm_apply_reference(s, x.data(), scale.data(), shift.data(), f, yr.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_LE(tol_rel(y[i], yr[i]), 4e-6) << "y " << i;
    const auto meanf = uniform(s.c, -0.5, 0.5, 9);
    std::vector<double> a(s.c), b(s.c), ar(s.c), br(s.c);
    nk::batchnorm_backward_reduce(s, dy.data(), yr.data(), f, x.data(), meanf.data(), a.data(), b.data());
    nk::batchnorm_backward_reduce_reference(s, dy.data(), yr.data(), f, x.data(), meanf.data(), ar.data(),
                                            br.data());
    const double scale_n = std::sqrt(static_cast<double>(s.n * s.hw));
    for (int64_t c = 0; c < s.c; ++c) {
      EXPECT_LE(std::fabs(a[c] - ar[c]) / scale_n, 1e-5) << "sum_dz c=" << c;
      EXPECT_LE(std::fabs(b[c] - br[c]) / scale_n, 1e-5) << "sum_dzx c=" << c;
    }
    const auto kd = uniform(s.c, -1, 1, 10), kx = uniform(s.c, -1, 1, 11), k0 = uniform(s.c, -1, 1, 12);
    std::vector<float> dx(x.size()), dxr(x.size());
    nk::batchnorm_backward_apply(s, dy.data(), yr.data(), f, x.data(), meanf.data(), kd.data(), kx.data(),
                                 k0.data(), dx.data());
    nk::batchnorm_backward_apply_reference(s, dy.data(), yr.data(), f, x.data(), meanf.data(), kd.data(),
                                           kx.data(), k0.data(), dxr.data());
    for (size_t i = 0; i < dx.size(); ++i) ASSERT_LE(tol_rel(dx[i], dxr[i]), 4e-6) << "dx " << i;
  });
}

// The backward passes with y null take ReLU's (LeakyReLU's) derivative from
// the sign of x·scale + shift: bitwise the same sums and dx as from the
// stored output y = act(x·scale + shift), on every ISA and shape, the
// reference alike; another activation, or no scale/shift, is an error.
TEST(BatchNorm, BackwardTakesTheSignFromThePreactivation) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (const nk::Activation f : {nk::Activation(nk::ActKind::ReLU), nk::Activation(nk::ActKind::LeakyReLU, 0.2f),
                                   nk::Activation(nk::ActKind::LeakyReLU, 0.f)}) {
      SCOPED_TRACE(nabla::test::label(f));
      for (const nk::NormShape& s : shapes()) {
        SCOPED_TRACE(std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw));
        const auto x = uniform(s.numel(), -2, 2, 21), dy = uniform(s.numel(), -1, 1, 22);
        const auto scale = uniform(s.c, -2, 2, 23), shift = uniform(s.c, -1, 1, 24), mean = uniform(s.c, -0.5, 0.5, 25);
        const auto kd = uniform(s.c, -1, 1, 26), kx = uniform(s.c, -1, 1, 27), k0 = uniform(s.c, -1, 1, 28);
        std::vector<float> y(x.size());
        nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), f, y.data());
        std::vector<double> a(s.c), b(s.c), a0(s.c), b0(s.c), ar(s.c), br(s.c), ar0(s.c), br0(s.c);
        nk::batchnorm_backward_reduce(s, dy.data(), y.data(), f, x.data(), mean.data(), a.data(), b.data());
        nk::batchnorm_backward_reduce(s, dy.data(), nullptr, f, x.data(), mean.data(), a0.data(), b0.data(),
                                      scale.data(), shift.data());
        EXPECT_EQ(a, a0);
        EXPECT_EQ(b, b0);
        nk::batchnorm_backward_reduce_reference(s, dy.data(), y.data(), f, x.data(), mean.data(), ar.data(), br.data());
        nk::batchnorm_backward_reduce_reference(s, dy.data(), nullptr, f, x.data(), mean.data(), ar0.data(),
                                                br0.data(), scale.data(), shift.data());
        EXPECT_EQ(ar, ar0);
        EXPECT_EQ(br, br0);
        std::vector<float> dx(x.size()), dx0(x.size()), dxr(x.size()), dxr0(x.size());
        nk::batchnorm_backward_apply(s, dy.data(), y.data(), f, x.data(), mean.data(), kd.data(), kx.data(), k0.data(),
                                     dx.data());
        nk::batchnorm_backward_apply(s, dy.data(), nullptr, f, x.data(), mean.data(), kd.data(), kx.data(), k0.data(),
                                     dx0.data(), scale.data(), shift.data());
        EXPECT_TRUE(nabla::test::bitwise_equal(dx, dx0));
        nk::batchnorm_backward_apply_reference(s, dy.data(), y.data(), f, x.data(), mean.data(), kd.data(), kx.data(),
                                               k0.data(), dxr.data());
        nk::batchnorm_backward_apply_reference(s, dy.data(), nullptr, f, x.data(), mean.data(), kd.data(), kx.data(),
                                               k0.data(), dxr0.data(), scale.data(), shift.data());
        EXPECT_TRUE(nabla::test::bitwise_equal(dxr, dxr0));
      }
    }
  });
  const nk::NormShape s{2, 3, 4};
  std::vector<float> v(static_cast<size_t>(s.numel()), 0.5f), c(3, 1.f);
  std::vector<double> a(3), b(3);
  try {
    nk::batchnorm_backward_reduce(s, v.data(), nullptr, nk::Activation::Sigmoid, v.data(), c.data(), a.data(),
                                  b.data(), c.data(), c.data());
    ADD_FAILURE() << "accepted a null y for sigmoid";
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sigmoid's derivative needs the output"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nk::batchnorm_backward_apply(s, v.data(), nullptr, nk::Activation::ReLU, v.data(), c.data(), c.data(),
                                            c.data(), c.data(), v.data()),
               nabla::Error);
  EXPECT_TRUE(nk::sign_derivative(nk::Activation::ReLU));
  EXPECT_FALSE(nk::sign_derivative(nk::Activation(nk::ActKind::ELU, 1.f)));
  EXPECT_FALSE(nk::sign_derivative(nk::Activation::None));
}

// batchnorm_apply with a residual addend (a residual block's add in the
// batch norm's pass): against the reference, every ISA, every shape of both
// layouts (hw and c of 1, 15, 16, 17, primes), every activation; the same
// bits as the batch norm followed by add_activation_forward; in place on the
// residual; bitwise for any thread count.
TEST(BatchNorm, ApplyWithResidualMatchesReference) {
  for_each_activation_and_shape([](nk::Activation f, const nk::NormShape& s) {
    const auto x = uniform(s.numel(), -2, 2, 13), r = uniform(s.numel(), -2, 2, 14);
    const auto scale = uniform(s.c, 0.5, 2, 15), shift = uniform(s.c, -1, 1, 16);
    std::vector<float> y(x.size()), yr(x.size());
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), f, y.data(), r.data());
    nk::batchnorm_apply_reference(s, x.data(), scale.data(), shift.data(), f, yr.data(), r.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_LE(tol_rel(y[i], yr[i]), 4e-6) << "y " << i;
    std::vector<float> bn(x.size()), split(x.size());
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), nk::Activation::None, bn.data());
    nk::add_activation_forward(f, s.numel(), bn.data(), r.data(), split.data());
    ASSERT_TRUE(nabla::test::bitwise_equal(y, split)) << "fused vs batch norm then add";
    std::vector<float> inplace = r;
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), f, inplace.data(), inplace.data());
    ASSERT_TRUE(nabla::test::bitwise_equal(y, inplace)) << "in place on the residual";
  });
  const nk::NormShape s{64, 24, 1024};  // above the parallel cut-off
  const auto x = uniform(s.numel(), -2, 2, 1), r = uniform(s.numel(), -1, 1, 2);
  const auto scale = uniform(s.c, 0.5, 2, 3), shift = uniform(s.c, -1, 1, 4);
  std::vector<float> y0;
  nabla::test::for_each_thread_count([&](int) {
    std::vector<float> y(x.size());
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), nk::Activation::ReLU, y.data(), r.data());
    if (y0.empty()) y0 = y;
    EXPECT_TRUE(nabla::test::bitwise_equal(y, y0));
  });
}

TEST(BatchNorm, ThreadCountIndependent) {
  for (const nk::NormShape s : {nk::NormShape{64, 24, 1024}, nk::NormShape{4096, 300, 1}}) {  // above the parallel cut-off
  SCOPED_TRACE(std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.hw));
  const auto x = uniform(s.numel(), -2, 2, 1), dy = uniform(s.numel(), -1, 1, 2);
  const auto scale = uniform(s.c, 0.5, 2, 3), shift = uniform(s.c, -1, 1, 4);
  std::vector<double> m0, v0, a0, b0;
  std::vector<float> y0;
  nabla::test::for_each_thread_count([&](int t) {
    std::vector<double> m(s.c), v(s.c), a(s.c), b(s.c);
    std::vector<float> y(x.size()), mf(s.c);
    nk::batchnorm_stats(s, x.data(), m.data(), v.data());
    for (int64_t c = 0; c < s.c; ++c) mf[c] = static_cast<float>(m[c]);
    nk::batchnorm_apply(s, x.data(), scale.data(), shift.data(), nk::Activation::ReLU, y.data());
    nk::batchnorm_backward_reduce(s, dy.data(), y.data(), nk::Activation::ReLU, x.data(), mf.data(), a.data(),
                                  b.data());
    if (t == 1) {
      m0 = m, v0 = v, a0 = a, b0 = b, y0 = y;
      return;
    }
    EXPECT_EQ(m, m0);
    EXPECT_EQ(v, v0);
    EXPECT_EQ(a, a0);
    EXPECT_EQ(b, b0);
    EXPECT_TRUE(nabla::test::bitwise_equal(y, y0));
  });
  }
}

TEST(Dropout, MatchesReferenceBitwiseOnEveryIsa) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes())
      for (float p : {0.f, 0.1f, 0.5f, 0.9f}) {
        const auto x = uniform(n, -1, 1, 3);
        std::vector<float> y(x.size()), yr(x.size());
        const uint64_t key = nk::dropout_key(42, static_cast<uint64_t>(n));
        nk::dropout(n, x.data(), p, key, y.data());
        nk::dropout_reference(n, x.data(), p, key, yr.data());
        ASSERT_TRUE(nabla::test::bitwise_equal(y, yr)) << "n=" << n << " p=" << p;
      }
  });
}

TEST(Dropout, MaskStatistics) {
  const int64_t n = 1 << 20;
  const std::vector<float> ones(n, 1.f);
  std::vector<float> y(n), y2(n);
  for (float p : {0.1f, 0.5f, 0.8f}) {
    nk::dropout(n, ones.data(), p, nk::dropout_key(7, 0), y.data());
    nk::dropout(n, ones.data(), p, nk::dropout_key(7, 1), y2.data());
    int64_t kept = 0, both = 0, runs = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      kept += y[i] != 0;
      both += y[i] != 0 && y2[i] != 0;
      runs += i > 0 && (y[i] != 0) != (y[i - 1] != 0);
      sum += y[i];
      if (y[i] != 0) ASSERT_EQ(y[i], static_cast<float>(1.0 / (1.0 - p)));
    }
    const double q = 1 - p, sd = std::sqrt(n * p * q);
    EXPECT_NEAR(static_cast<double>(kept), n * q, 5 * sd) << "p=" << p;  // binomial, 5 sigma
    EXPECT_NEAR(sum / n, 1.0, 0.01) << "the expectation is kept";
    EXPECT_NEAR(static_cast<double>(both), n * q * q, 6 * std::sqrt(n * q * q)) << "two calls are independent";
    EXPECT_NEAR(static_cast<double>(runs), 2.0 * n * p * q, 6 * std::sqrt(2.0 * n * p * q))
        << "neighbours are independent";
  }
}

TEST(Dropout, ThreadCountIndependentAndRejectsBadP) {
  const int64_t n = (1 << 21) + 3;
  const auto x = uniform(n, -1, 1, 3);
  std::vector<float> y0;
  nabla::test::for_each_thread_count([&](int t) {
    std::vector<float> y(x.size());
    nk::dropout(n, x.data(), 0.3f, nk::dropout_key(1, 2), y.data());
    if (t == 1) y0 = y;
    EXPECT_TRUE(nabla::test::bitwise_equal(y, y0));
  });
  std::vector<float> y(4);
  EXPECT_THROW(nk::dropout(4, x.data(), 1.f, 0, y.data()), nabla::Error);
  EXPECT_THROW(nk::dropout(4, x.data(), -0.1f, 0, y.data()), nabla::Error);
  EXPECT_THROW(nk::dropout(4, x.data(), NAN, 0, y.data()), nabla::Error);
}
