// Max pooling: forward (values and arg-max indices) and backward against the
// scalar reference bitwise, ties and NaN explicitly, backward against finite
// differences away from ties, every ISA, thread counts.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include "activation_test_util.hpp"
#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/pool.hpp"

namespace nk = nabla::kernels;
using nk::MaxPool2d;

namespace {

std::string str(const MaxPool2d& p) {
  return std::to_string(p.n) + "x" + std::to_string(p.c) + "x" + std::to_string(p.h) + "x" + std::to_string(p.w) +
         " k" + std::to_string(p.kernel) + " s" + std::to_string(p.stride) + " p" + std::to_string(p.padding);
}

// Values with ties: integers in [−4, 4], so windows often have equal maxima.
std::vector<float> with_ties(int64_t n, uint32_t seed) {
  auto v = nabla::test::uniform(n, -4.5f, 4.5f, seed);
  for (auto& x : v) x = std::round(x);
  return v;
}

void check_against_reference(const MaxPool2d& p, const std::vector<float>& x) {
  const int64_t out = p.n * p.c * p.out_h() * p.out_w();
  std::vector<float> y(out), yr(out), dy = nabla::test::uniform(out, -1, 1, 5);
  std::vector<int32_t> id(out), idr(out);
  nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
  nk::max_pool2d_forward_reference(p, x.data(), yr.data(), idr.data());
  ASSERT_TRUE(nabla::test::bitwise_equal(y, yr)) << str(p);
  ASSERT_EQ(id, idr) << str(p);
  std::vector<float> dx(x.size(), 123.f), dxr(x.size());
  nk::max_pool2d_backward(p, dy.data(), id.data(), dx.data());
  nk::max_pool2d_backward_reference(p, dy.data(), idr.data(), dxr.data());
  ASSERT_TRUE(nabla::test::bitwise_equal(dx, dxr)) << str(p);
}

}  // namespace

TEST(MaxPool, Fast2x2MatchesReferenceEveryWidth) {
  nabla::test::for_each_isa([](nabla::Isa) {
    // Widths 2..99 cover every output-vector tail for 4/8/16 lanes, odd H/W.
    for (int64_t w = 2; w <= 99; ++w)
      for (int64_t h : {2, 3, 5}) {
        const MaxPool2d p{2, 3, h, w, 2, 2, 0};
        check_against_reference(p, with_ties(p.n * p.c * h * w, static_cast<uint32_t>(w * 7 + h)));
      }
  });
}

TEST(MaxPool, GeneralGeometriesMatchReference) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t pad = 0; 2 * pad <= k; ++pad)
          for (int64_t hw : {4, 7, 12}) {
            if (hw + 2 * pad < k) continue;
            const MaxPool2d p{2, 2, hw, hw + 1, k, s, pad};
            check_against_reference(p, with_ties(p.n * p.c * p.h * p.w, static_cast<uint32_t>(k * 100 + s * 10 + pad)));
          }
  });
}

TEST(MaxPool, TiesPickTheFirstAndNaNPropagates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  nabla::test::for_each_isa([&](nabla::Isa) {
    for (int64_t w : {8, 64}) {  // a scalar tail (AVX-512) and full vectors
      const MaxPool2d p{1, 1, 2, w, 2, 2, 0};
      std::vector<float> x(2 * w, 1.f);
      // window 0: all equal -> index 0; window 1: max 5 at (0,3) and (1,2) -> 3;
      x[3] = 5.f;
      x[w + 2] = 5.f;
      std::vector<float> y(w / 2);
      std::vector<int32_t> id(w / 2);
      nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
      EXPECT_EQ(id[0], 0);
      EXPECT_EQ(id[1], 3);
      EXPECT_EQ(y[1], 5.f);
      // the gradient goes to the chosen position only
      std::vector<float> dy(w / 2, 1.f), dx(2 * w);
      nk::max_pool2d_backward(p, dy.data(), id.data(), dx.data());
      EXPECT_EQ(dx[3], 1.f);
      EXPECT_EQ(dx[w + 2], 0.f);
      // NaN wins over numbers (the first NaN), and ±inf are ordinary values
      x[4] = -std::numeric_limits<float>::infinity();
      x[5] = nan;
      x[w + 4] = nan;
      x[6] = std::numeric_limits<float>::infinity();
      nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
      EXPECT_TRUE(std::isnan(y[2]));
      EXPECT_EQ(id[2], 5);
      EXPECT_EQ(y[3], std::numeric_limits<float>::infinity());
    }
    // Padding is −inf: a window of negatives never picks the border.
    const MaxPool2d p{1, 1, 2, 2, 3, 1, 1};
    const float x[4] = {-5.f, -6.f, -7.f, -8.f};
    float y[4];
    int32_t id[4];
    nk::max_pool2d_forward(p, x, y, id);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(y[i], -5.f);
      EXPECT_EQ(id[i], 0);
    }
  });
}

TEST(MaxPool, BackwardIsFiniteDifferenceOfForward) {
  // Distinct values (no ties) and overlapping windows (k 3, s 2).
  for (const MaxPool2d p : {MaxPool2d{1, 2, 6, 7, 2, 2, 0}, MaxPool2d{1, 2, 7, 7, 3, 2, 1}}) {
    const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
    std::vector<float> x(in);
    for (int64_t i = 0; i < in; ++i) x[i] = static_cast<float>((i * 37) % in) * 0.25f;  // distinct, spaced
    const auto wgt = nabla::test::uniform(out, -1, 1, 9);
    std::vector<float> y(out), dx(in);
    std::vector<int32_t> id(out);
    nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
    nk::max_pool2d_backward(p, wgt.data(), id.data(), dx.data());
    for (int64_t i = 0; i < in; ++i) {
      auto L = [&](float dv) {
        auto xp = x;
        xp[i] += dv;
        std::vector<float> yp(out);
        std::vector<int32_t> ip(out);
        nk::max_pool2d_forward_reference(p, xp.data(), yp.data(), ip.data());
        double l = 0;
        for (int64_t o = 0; o < out; ++o) l += static_cast<double>(wgt[o]) * yp[o];
        return l;
      };
      EXPECT_NEAR(dx[i], (L(0.01f) - L(-0.01f)) / 0.02, 1e-4) << str(p) << " i=" << i;
    }
  }
}

// The derivative of the activation before the pool, fused into the scatter
// from the pooled output: equal to the reference's (float64 derivative,
// rounded) and, where windows do not overlap, bitwise equal to the plain
// scatter followed by activation_backward on the pool's input, for every
// activation that takes its derivative from its output, every ISA, the fast
// 2×2 path and general geometries.
TEST(MaxPool, FusedActivationDerivative) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (const nk::Activation f : nabla::test::all_activations()) {
      if (f.is_none() || nk::derivative_uses_input(f.kind)) continue;
      const MaxPool2d geoms[] = {{2, 3, 5, 37, 2, 2, 0}, {1, 2, 16, 17, 2, 2, 0}, {2, 2, 7, 8, 3, 2, 1},
                                 {1, 3, 9, 9, 3, 3, 0}, {2, 1, 6, 5, 2, 1, 1}};
      for (const MaxPool2d& p : geoms) {
        const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
        std::vector<float> a = nabla::test::uniform(in, -3, 3, 11);
        nk::activation_forward(f, 1, 1, in, a.data(), nk::BiasKind::None, nullptr, a.data());
        std::vector<float> y(out), dy = nabla::test::uniform(out, -1, 1, 12), dx(in, 7.f), dxr(in), plain(in);
        std::vector<int32_t> id(out);
        nk::max_pool2d_forward(p, a.data(), y.data(), id.data());
        nk::max_pool2d_backward(p, dy.data(), id.data(), dx.data(), f, y.data());
        nk::max_pool2d_backward_reference(p, dy.data(), id.data(), dxr.data(), f, y.data());
        const std::string where = str(p) + " " + nk::activation_name(f);
        for (int64_t i = 0; i < in; ++i)
          ASSERT_NEAR(dx[i], dxr[i], 1e-6 * (1 + std::abs(dxr[i]))) << where << " at " << i;
        if (p.stride < p.kernel) continue;
        nk::max_pool2d_backward(p, dy.data(), id.data(), plain.data());
        nk::activation_backward(f, in, a.data(), plain.data(), plain.data());
        ASSERT_TRUE(nabla::test::bitwise_equal(dx, plain)) << where;
      }
    }
  });
  float x[16] = {}, y[4] = {}, dx[16];
  int32_t id[4] = {};
  const MaxPool2d p{1, 1, 4, 4, 2, 2, 0};
  EXPECT_THROW(nk::max_pool2d_backward(p, y, id, dx, nk::Activation::ReLU, nullptr), nabla::Error);
  try {
    nk::max_pool2d_backward(p, y, id, dx, nk::ActKind::GELU, x);
    FAIL();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gelu"), std::string::npos) << e.what();
  }
}

TEST(MaxPool, LargeShapeAnyThreadCount) {
  const MaxPool2d p{64, 32, 28, 28, 2, 2, 0};
  const auto x = with_ties(p.n * p.c * p.h * p.w, 3);
  const int64_t out = p.n * p.c * 14 * 14;
  std::vector<float> y0, dx0;
  nabla::test::for_each_thread_count([&](int t) {
    std::vector<float> y(out), dx(x.size());
    std::vector<int32_t> id(out);
    nk::max_pool2d_forward(p, x.data(), y.data(), id.data());
    nk::max_pool2d_backward(p, y.data(), id.data(), dx.data());
    if (t == 1) {
      y0 = y;
      dx0 = dx;
    }
    EXPECT_TRUE(nabla::test::bitwise_equal(y, y0));
    EXPECT_TRUE(nabla::test::bitwise_equal(dx, dx0));
  });
}

TEST(MaxPool, InvalidGeometryThrows) {
  float x[16] = {}, y[16];
  int32_t id[16];
  EXPECT_THROW(nk::max_pool2d_forward(MaxPool2d{1, 1, 4, 4, 0, 1, 0}, x, y, id), nabla::Error);
  EXPECT_THROW(nk::max_pool2d_forward(MaxPool2d{1, 1, 4, 4, 2, 2, 2}, x, y, id), nabla::Error);
  EXPECT_THROW(nk::max_pool2d_forward(MaxPool2d{1, 1, 1, 4, 3, 1, 0}, x, y, id), nabla::Error);
  EXPECT_THROW(nk::max_pool2d_forward(MaxPool2d{1, 1, 4, 4, 2, 2, 0}, x, nullptr, id), nabla::Error);
  try {
    nk::max_pool2d_backward(MaxPool2d{1, 1, 4, 4, 2, -1, 0}, x, id, y);
    FAIL();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("stride -1"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(nk::max_pool2d_forward(MaxPool2d{0, 3, 4, 4, 2, 2, 0}, nullptr, nullptr, nullptr));
}

// ---- average pooling ------------------------------------------------------------

namespace {

using nk::AvgPool2d;

std::string str(const AvgPool2d& p) {
  return std::to_string(p.n) + "x" + std::to_string(p.c) + "x" + std::to_string(p.h) + "x" + std::to_string(p.w) +
         " k" + std::to_string(p.kernel) + " s" + std::to_string(p.stride) + " p" + std::to_string(p.padding);
}

void check_avg_against_reference(const AvgPool2d& p, uint32_t seed) {
  const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
  const auto x = nabla::test::uniform(in, -3, 3, seed), dy = nabla::test::uniform(out, -1, 1, seed + 1);
  std::vector<float> y(out, 7.f), yr(out), dx(in, 123.f), dxr(in);
  nk::avg_pool2d_forward(p, x.data(), y.data());
  nk::avg_pool2d_forward_reference(p, x.data(), yr.data());
  ASSERT_TRUE(nabla::test::bitwise_equal(y, yr)) << str(p);
  nk::avg_pool2d_backward(p, dy.data(), dx.data());
  nk::avg_pool2d_backward_reference(p, dy.data(), dxr.data());
  ASSERT_TRUE(nabla::test::bitwise_equal(dx, dxr)) << str(p);
  // torch's definition in float64: the window sum (padding counted as 0) over kernel².
  const int64_t oh = p.out_h(), ow = p.out_w();
  for (int64_t q = 0; q < p.n * p.c; ++q)
    for (int64_t o = 0; o < oh * ow; ++o) {
      double s = 0;
      for (int64_t a = 0; a < p.kernel; ++a)
        for (int64_t b = 0; b < p.kernel; ++b) {
          const int64_t hh = o / ow * p.stride - p.padding + a, ww = o % ow * p.stride - p.padding + b;
          if (hh >= 0 && hh < p.h && ww >= 0 && ww < p.w) s += x[(q * p.h + hh) * p.w + ww];
        }
      ASSERT_NEAR(y[q * oh * ow + o], s / double(p.kernel * p.kernel), 1e-5) << str(p);
    }
}

}  // namespace

TEST(AvgPool, MatchesReferenceBitwiseEveryIsaAndGeometry) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t k = 1; k <= 4; ++k)
      for (int64_t s = 1; s <= 3; ++s)
        for (int64_t pad = 0; 2 * pad <= k; ++pad)
          for (int64_t hw : {4, 7, 12}) {
            if (hw + 2 * pad < k) continue;
            check_avg_against_reference(AvgPool2d{2, 2, hw, hw + 1, k, s, pad}, static_cast<uint32_t>(k * 100 + s * 10 + pad));
          }
    // Every tail of 4/8/16 lanes, for the vectorised strides.
    for (int64_t w = 2; w <= 70; ++w)
      for (const auto& [k, s, pad] : std::vector<std::array<int64_t, 3>>{{2, 2, 0}, {3, 1, 1}, {3, 2, 1}, {2, 1, 0}})
        if (w + 2 * pad >= k) check_avg_against_reference(AvgPool2d{1, 2, 3, w, k, s, pad}, static_cast<uint32_t>(w));
  });
}

TEST(AvgPool, BackwardIsFiniteDifferenceOfForward) {
  for (const AvgPool2d p : {AvgPool2d{1, 2, 6, 7, 2, 2, 0}, AvgPool2d{1, 2, 7, 7, 3, 2, 1}, AvgPool2d{1, 1, 5, 9, 3, 1, 1}}) {
    const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
    const auto x = nabla::test::uniform(in, -1, 1, 3), wgt = nabla::test::uniform(out, -1, 1, 9);
    std::vector<float> dx(in);
    nk::avg_pool2d_backward(p, wgt.data(), dx.data());
    for (int64_t i = 0; i < in; ++i) {
      auto L = [&](float dv) {
        auto xp = x;
        xp[i] += dv;
        std::vector<float> yp(out);
        nk::avg_pool2d_forward_reference(p, xp.data(), yp.data());
        double l = 0;
        for (int64_t o = 0; o < out; ++o) l += static_cast<double>(wgt[o]) * yp[o];
        return l;
      };
      EXPECT_NEAR(dx[i], (L(0.01f) - L(-0.01f)) / 0.02, 1e-4) << str(p) << " i=" << i;
    }
  }
}

TEST(AvgPool, GlobalMatchesFloat64EveryIsaAndSize) {
  nabla::test::for_each_isa([](nabla::Isa) {
    for (int64_t plane : {1, 3, 4, 7, 8, 15, 16, 17, 31, 63, 64, 65, 196, 1000}) {
      const int64_t planes = 5;
      const auto x = nabla::test::uniform(planes * plane, -2, 3, static_cast<uint32_t>(plane));
      std::vector<float> y(planes), yr(planes), dx(planes * plane, 9.f);
      nk::global_avg_pool2d_forward(planes, plane, x.data(), y.data());
      nk::global_avg_pool2d_forward_reference(planes, plane, x.data(), yr.data());
      for (int64_t q = 0; q < planes; ++q) {
        double mag = 0;
        for (int64_t i = 0; i < plane; ++i) mag += std::fabs(x[q * plane + i]);
        EXPECT_NEAR(y[q], yr[q], 2e-6 * mag / double(plane) + 1e-7) << "plane " << plane;
      }
      const auto dy = nabla::test::uniform(planes, -1, 1, 4);
      nk::global_avg_pool2d_backward(planes, plane, dy.data(), dx.data());
      for (int64_t q = 0; q < planes; ++q)
        for (int64_t i = 0; i < plane; ++i) ASSERT_EQ(dx[q * plane + i], dy[q] / float(plane)) << plane;
    }
  });
}

TEST(AvgPool, LargeShapeAnyThreadCount) {
  const AvgPool2d p{32, 16, 28, 28, 3, 2, 1};
  const int64_t in = p.n * p.c * p.h * p.w, out = p.n * p.c * p.out_h() * p.out_w();
  const auto x = nabla::test::uniform(in, -1, 1, 5);
  std::vector<float> y0, dx0, g0;
  nabla::test::for_each_thread_count([&](int t) {
    std::vector<float> y(out), dx(in), g(p.n * p.c);
    nk::avg_pool2d_forward(p, x.data(), y.data());
    nk::avg_pool2d_backward(p, y.data(), dx.data());
    nk::global_avg_pool2d_forward(p.n * p.c, p.h * p.w, x.data(), g.data());
    if (t == 1) y0 = y, dx0 = dx, g0 = g;
    EXPECT_TRUE(nabla::test::bitwise_equal(y, y0));
    EXPECT_TRUE(nabla::test::bitwise_equal(dx, dx0));
    EXPECT_TRUE(nabla::test::bitwise_equal(g, g0));
  });
}

TEST(AvgPool, InvalidGeometryThrows) {
  float x[16] = {}, y[16];
  EXPECT_THROW(nk::avg_pool2d_forward(AvgPool2d{1, 1, 4, 4, 0, 1, 0}, x, y), nabla::Error);
  EXPECT_THROW(nk::avg_pool2d_forward(AvgPool2d{1, 1, 4, 4, 2, 2, 2}, x, y), nabla::Error);
  EXPECT_THROW(nk::avg_pool2d_forward(AvgPool2d{1, 1, 1, 4, 3, 1, 0}, x, y), nabla::Error);
  EXPECT_THROW(nk::avg_pool2d_backward(AvgPool2d{1, 1, 4, 4, 2, 0, 0}, x, nullptr), nabla::Error);
  EXPECT_THROW(nk::global_avg_pool2d_forward(1, 0, x, y), nabla::Error);
  EXPECT_THROW(nk::global_avg_pool2d_backward(1, 4, x, nullptr), nabla::Error);
  EXPECT_NO_THROW(nk::global_avg_pool2d_forward(0, 4, nullptr, nullptr));
}
