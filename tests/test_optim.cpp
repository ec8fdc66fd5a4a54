// Optimiser update kernels against their scalar references (torch.optim's
// rules in float64) over several steps, every ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <utility>
#include <vector>

#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/optim.hpp"

namespace nk = nabla::kernels;

TEST(Optim, SgdMatchesReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      for (nk::SgdParams hp : {nk::SgdParams{0.1f, 0.f, 0.f}, nk::SgdParams{0.05f, 0.9f, 1e-2f},
                               nk::SgdParams{0.05f, 0.9f, 1e-2f, true}, nk::SgdParams{0.1f, 0.5f, 0.f, true}}) {
        auto p = nabla::test::uniform(n, -1, 1, 1), pr = p;
        std::vector<float> buf(static_cast<size_t>(n)), bufr(static_cast<size_t>(n));
        for (int step = 0; step < 3; ++step) {
          const auto g = nabla::test::uniform(n, -1, 1, 10 + step);
          nk::sgd_update(n, p.data(), g.data(), hp.momentum != 0 ? buf.data() : nullptr, hp, step == 0);
          nk::sgd_update_reference(n, pr.data(), g.data(), bufr.data(), hp, step == 0);
        }
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_NEAR(p[i], pr[i], 2e-7 * (1 + std::fabs(pr[i]))) << "n=" << n << " i=" << i;
          if (hp.momentum != 0) ASSERT_NEAR(buf[i], bufr[i], 4e-7 * (1 + std::fabs(bufr[i])));
        }
      }
    }
  });
}

TEST(Optim, AdamMatchesReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      for (nk::AdamParams hp : {nk::AdamParams{}, nk::AdamParams{1e-2f, 0.5f, 0.99f, 1e-6f, 1e-2f},
                                nk::AdamParams{1e-3f, 0.3f, 0.9f, 1e-8f, 0.f}}) {  // β1 < 0.5: lerp's other branch
        auto p = nabla::test::uniform(n, -1, 1, 2), pr = p;
        std::vector<float> m(static_cast<size_t>(n)), v(m), mr(m), vr(m);
        for (int64_t step = 1; step <= 3; ++step) {
          const auto g = nabla::test::uniform(n, -1, 1, 20 + static_cast<uint32_t>(step));
          nk::adam_update(n, p.data(), g.data(), m.data(), v.data(), hp, step);
          nk::adam_update_reference(n, pr.data(), g.data(), mr.data(), vr.data(), hp, step);
        }
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_NEAR(p[i], pr[i], 1e-6 * (1 + std::fabs(pr[i]))) << "n=" << n << " i=" << i;
          ASSERT_NEAR(m[i], mr[i], 1e-6 * std::fabs(mr[i]) + 1.5e-7);  // lerp cancels: a few ulp of g
          ASSERT_NEAR(v[i], vr[i], 1e-6 * std::fabs(vr[i]) + 1e-10);
        }
      }
    }
  });
}

TEST(Optim, AdamWMatchesReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      for (nk::AdamParams hp : {nk::AdamParams{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f},
                                nk::AdamParams{1e-2f, 0.3f, 0.99f, 1e-6f, 0.5f},
                                nk::AdamParams{1e-3f, 0.9f, 0.999f, 1e-8f, 0.f}}) {
        auto p = nabla::test::uniform(n, -1, 1, 2), pr = p;
        std::vector<float> m(static_cast<size_t>(n)), v(m), mr(m), vr(m);
        for (int64_t step = 1; step <= 3; ++step) {
          const auto g = nabla::test::uniform(n, -1, 1, 30 + static_cast<uint32_t>(step));
          nk::adamw_update(n, p.data(), g.data(), m.data(), v.data(), hp, step);
          nk::adamw_update_reference(n, pr.data(), g.data(), mr.data(), vr.data(), hp, step);
        }
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_NEAR(p[i], pr[i], 1e-6 * (1 + std::fabs(pr[i]))) << "n=" << n << " i=" << i;
          ASSERT_NEAR(m[i], mr[i], 1e-6 * std::fabs(mr[i]) + 1.5e-7);
          ASSERT_NEAR(v[i], vr[i], 1e-6 * std::fabs(vr[i]) + 1e-10);
        }
      }
    }
  });
}

TEST(Optim, AdamWWithoutDecayIsAdamToRounding) {
  const int64_t n = 1001;
  auto p = nabla::test::uniform(n, -1, 1, 2), q = p;
  const auto g = nabla::test::uniform(n, -1, 1, 3);
  std::vector<float> m(static_cast<size_t>(n)), v(m), m2(m), v2(m);
  nk::adamw_update(n, p.data(), g.data(), m.data(), v.data(), nk::AdamParams{}, 1);
  nk::adam_update(n, q.data(), g.data(), m2.data(), v2.data(), nk::AdamParams{}, 1);
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(p[i], q[i], 2e-7 * (1 + std::fabs(q[i]))) << i;
}

// Each element's result does not depend on where it sits in the array
// (full vector or partial one at the end of a thread's range): element i
// updated alone equals element i updated with the whole array.
TEST(Optim, ElementResultIndependentOfPosition) {
  nabla::test::for_each_isa([](nabla::Isa) {
    const int64_t n = 1000;
    const auto g = nabla::test::uniform(n, -1, 1, 7), p0 = nabla::test::uniform(n, -1, 1, 8),
               m0 = nabla::test::uniform(n, -0.1f, 0.1f, 9), v0 = nabla::test::uniform(n, 0, 0.01f, 10);
    using Fn = std::function<void(int64_t, int64_t, float*, float*, float*)>;  // offset, count, p, m, v
    const std::vector<std::pair<const char*, Fn>> kernels = {
        {"adam", [&](int64_t o, int64_t k, float* p, float* m, float* v) {
           nk::adam_update(k, p, g.data() + o, m, v, nk::AdamParams{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f}, 3);
         }},
        {"sgd momentum", [&](int64_t o, int64_t k, float* p, float* m, float*) {
           nk::sgd_update(k, p, g.data() + o, m, nk::SgdParams{0.1f, 0.9f, 1e-4f, false}, false);
         }},
        {"adamw", [&](int64_t o, int64_t k, float* p, float* m, float* v) {
           nk::adamw_update(k, p, g.data() + o, m, v, nk::AdamParams{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f}, 3);
         }},
        {"sgd nesterov", [&](int64_t o, int64_t k, float* p, float* m, float*) {
           nk::sgd_update(k, p, g.data() + o, m, nk::SgdParams{0.1f, 0.9f, 1e-4f, true}, false);
         }},
        {"rmsprop", [&](int64_t o, int64_t k, float* p, float* m, float* v) {
           nk::rmsprop_update(k, p, g.data() + o, v, m, nk::RmspropParams{1e-2f, 0.99f, 1e-8f, 1e-4f, 0.9f});
         }},
        {"rmsprop, no momentum", [&](int64_t o, int64_t k, float* p, float*, float* v) {
           nk::rmsprop_update(k, p, g.data() + o, v, nullptr, nk::RmspropParams{1e-2f, 0.99f, 1e-8f, 1e-4f, 0.f});
         }}};
    for (const auto& [name, fn] : kernels) {
      SCOPED_TRACE(name);
      auto p1 = p0, m1 = m0, v1 = v0, p2 = p0, m2 = m0, v2 = v0;
      fn(0, n, p1.data(), m1.data(), v1.data());
      for (int64_t i = 0; i < n; ++i) fn(i, 1, p2.data() + i, m2.data() + i, v2.data() + i);
      EXPECT_TRUE(nabla::test::bitwise_equal(p1, p2));
      EXPECT_TRUE(nabla::test::bitwise_equal(m1, m2));
      EXPECT_TRUE(nabla::test::bitwise_equal(v1, v2));
    }
  });
}

TEST(Optim, RmspropMatchesReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      for (nk::RmspropParams hp : {nk::RmspropParams{}, nk::RmspropParams{1e-3f, 0.9f, 1e-6f, 1e-2f, 0.9f},
                                   nk::RmspropParams{5e-3f, 0.5f, 1e-8f, 0.f, 0.5f}}) {
        auto p = nabla::test::uniform(n, -1, 1, 5), pr = p;
        std::vector<float> sa(static_cast<size_t>(n)), buf(sa), sar(sa), bufr(sa);
        for (int step = 0; step < 3; ++step) {
          const auto g = nabla::test::uniform(n, -1, 1, 40 + static_cast<uint32_t>(step));
          nk::rmsprop_update(n, p.data(), g.data(), sa.data(), hp.momentum != 0 ? buf.data() : nullptr, hp);
          nk::rmsprop_update_reference(n, pr.data(), g.data(), sar.data(), bufr.data(), hp);
        }
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_NEAR(p[i], pr[i], 1e-6 * (1 + std::fabs(pr[i]))) << "n=" << n << " i=" << i;
          ASSERT_NEAR(sa[i], sar[i], 1e-6 * std::fabs(sar[i]) + 1e-10);
          if (hp.momentum != 0) ASSERT_NEAR(buf[i], bufr[i], 1e-5 * std::fabs(bufr[i]) + 1e-6);
        }
      }
    }
  });
}

TEST(Optim, SumSquaresAndScaleMatchReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      auto x = nabla::test::uniform(n, -2, 2, 6);
      const double ref = nk::sum_squares_reference(n, x.data());
      EXPECT_NEAR(nk::sum_squares(n, x.data()), ref, 1e-6 * ref) << "n=" << n;
      auto y = x;
      nk::scale(n, y.data(), 0.37f);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i] * 0.37f) << "n=" << n << " i=" << i;
    }
  });
}

TEST(Optim, ThreadCountBitwise) {
  const int64_t n = (int64_t{1} << 21) + 3;
  const auto g = nabla::test::uniform(n, -1, 1, 3);
  std::vector<float> p0, m0;
  nabla::test::for_each_thread_count([&](int t) {
    auto p = nabla::test::uniform(n, -1, 1, 4);
    std::vector<float> m(static_cast<size_t>(n)), v(m);
    nk::adam_update(n, p.data(), g.data(), m.data(), v.data(), nk::AdamParams{}, 1);
    if (t == 1) {
      p0 = p;
      m0 = m;
    }
    EXPECT_TRUE(nabla::test::bitwise_equal(p, p0));
    EXPECT_TRUE(nabla::test::bitwise_equal(m, m0));
  });
  // The new kernels, and the sum of squares (a reduction: fixed blocks).
  std::vector<float> pw0, pr0, ps0;
  double s0 = 0;
  nabla::test::for_each_thread_count([&](int t) {
    auto pw = nabla::test::uniform(n, -1, 1, 4), pr = pw, ps = pw;
    std::vector<float> m(static_cast<size_t>(n)), v(m), buf(m);
    nk::adamw_update(n, pw.data(), g.data(), m.data(), v.data(), nk::AdamParams{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f}, 1);
    nk::rmsprop_update(n, pr.data(), g.data(), v.data(), buf.data(), nk::RmspropParams{1e-2f, 0.99f, 1e-8f, 0.f, 0.9f});
    nk::sgd_update(n, ps.data(), g.data(), buf.data(), nk::SgdParams{0.1f, 0.9f, 0.f, true}, false);
    const double s = nk::sum_squares(n, g.data());
    if (t == 1) {
      pw0 = pw;
      pr0 = pr;
      ps0 = ps;
      s0 = s;
    }
    EXPECT_TRUE(nabla::test::bitwise_equal(pw, pw0));
    EXPECT_TRUE(nabla::test::bitwise_equal(pr, pr0));
    EXPECT_TRUE(nabla::test::bitwise_equal(ps, ps0));
    EXPECT_EQ(s, s0);
  });
}

TEST(Optim, InvalidArgumentsThrow) {
  float x[2] = {};
  EXPECT_THROW(nk::sgd_update(2, x, x, nullptr, nk::SgdParams{0.1f, 0.9f, 0.f}, false), nabla::Error);
  EXPECT_THROW(nk::sgd_update(2, x, x, nullptr, nk::SgdParams{-0.1f, 0.f, 0.f}, false), nabla::Error);
  EXPECT_THROW(nk::adam_update(2, x, x, x, x, nk::AdamParams{}, 0), nabla::Error);
  EXPECT_THROW(nk::adam_update(2, x, x, x, x, nk::AdamParams{1e-3f, 1.f, 0.999f, 1e-8f, 0.f}, 1), nabla::Error);
  EXPECT_THROW(nk::adam_update(-1, x, x, x, x, nk::AdamParams{}, 1), nabla::Error);
  EXPECT_THROW(nk::sgd_update(2, x, x, x, nk::SgdParams{0.1f, 0.f, 0.f, true}, false), nabla::Error);  // Nesterov, no momentum
  EXPECT_THROW(nk::adamw_update(2, x, x, x, x, nk::AdamParams{1e-3f, 0.9f, 0.999f, 1e-8f, -1.f}, 1), nabla::Error);
  EXPECT_THROW(nk::adamw_update(2, x, x, x, x, nk::AdamParams{}, 0), nabla::Error);
  EXPECT_THROW(nk::rmsprop_update(2, x, x, x, nullptr, nk::RmspropParams{1e-2f, 0.99f, 1e-8f, 0.f, 0.9f}), nabla::Error);
  EXPECT_THROW(nk::rmsprop_update(2, x, x, x, x, nk::RmspropParams{1e-2f, -0.5f}), nabla::Error);
  EXPECT_THROW(nk::rmsprop_update(2, x, x, nullptr, nullptr, nk::RmspropParams{}), nabla::Error);
  EXPECT_THROW(nk::sum_squares(-1, x), nabla::Error);
  EXPECT_THROW(nk::scale(2, nullptr, 1.f), nabla::Error);
}
