// Optimiser update kernels against their scalar references (torch.optim's
// rules in float64) over several steps, every ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/optim.hpp"

namespace nk = nabla::kernels;

TEST(Optim, SgdMatchesReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      for (nk::SgdParams hp : {nk::SgdParams{0.1f, 0.f, 0.f}, nk::SgdParams{0.05f, 0.9f, 1e-2f}}) {
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
}

TEST(Optim, InvalidArgumentsThrow) {
  float x[2] = {};
  EXPECT_THROW(nk::sgd_update(2, x, x, nullptr, nk::SgdParams{0.1f, 0.9f, 0.f}, false), nabla::Error);
  EXPECT_THROW(nk::sgd_update(2, x, x, nullptr, nk::SgdParams{-0.1f, 0.f, 0.f}, false), nabla::Error);
  EXPECT_THROW(nk::adam_update(2, x, x, x, x, nk::AdamParams{}, 0), nabla::Error);
  EXPECT_THROW(nk::adam_update(2, x, x, x, x, nk::AdamParams{1e-3f, 1.f, 0.999f, 1e-8f, 0.f}, 1), nabla::Error);
  EXPECT_THROW(nk::adam_update(-1, x, x, x, x, nk::AdamParams{}, 1), nabla::Error);
}
