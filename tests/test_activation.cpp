// Activation kernels: forward (with per-row / per-column bias), fused
// derivatives, softmax, bias gradients. Each against its scalar reference
// and float64 maths, for every ISA the CPU has.
#include <gtest/gtest.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "eltwise_test_util.hpp"
#include "kernels/activation/activation_math.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "activation_test_util.hpp"

namespace nk = nabla::kernels;
using nabla::test::for_each_isa;
using nabla::test::ulp_error;
using nk::Activation;
using nk::BiasKind;

namespace {

const std::vector<Activation> kActs = nabla::test::all_activations();

double f64(Activation f, double x) { return nk::activation_reference(f, x); }

// The ulp bound of the forward against float64: 4 for the table's original
// kinds; 24 for GELU and SiLU (measured worst: 18 ulp, GELU near z = −12 on
// SSE2, where Φ(z) ~ 1e−36 is the product of two exponentials and erfc's
// rational kernel; 24 ulp is 1.4e−6 relative, inside the 1e−5 contract).
double ulp_limit(Activation f) { return nk::derivative_uses_input(f.kind) ? 24 : 4; }

// Every 4099th float bit pattern: ~1 M values over the whole range.
std::vector<float> float_sweep() {
  std::vector<float> v;
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 4099) {
    const uint32_t b = static_cast<uint32_t>(u);
    float x;
    std::memcpy(&x, &b, 4);
    v.push_back(x);
  }
  return v;
}

// Worst ulp of got vs f64 over results in the normal range; counts NaN /
// inf where the exact value is finite.
struct UlpReport {
  double worst = 0;
  float at = 0;
  int bad_special = 0;
  void add(float x, float got, double ref) {
    if (std::isnan(ref) != std::isnan(got)) ++bad_special;
    if (std::isnan(ref)) return;
    if (std::isfinite(ref) && !std::isfinite(got) && std::fabs(ref) < 3.4028234e38) ++bad_special;
    if (std::fabs(ref) < std::numeric_limits<float>::min() || std::fabs(ref) > 3.4028234e38) return;
    const double e = ulp_error(got, ref);
    if (e > worst) {
      worst = e;
      at = x;
    }
  }
};

}  // namespace

// The math of activation_math.hpp (and xsimd::exp, which softmax and the
// losses call), instantiated here for SSE2, the ISA this file is compiled
// for; the kernels' own results at every ISA are checked below.
TEST(ActivationMath, UlpSweep) {
  using B = xsimd::batch<float, xsimd::sse2>;
  const auto xs = float_sweep();
  UlpReport e, s, t;
  for (size_t i = 0; i + B::size <= xs.size(); i += B::size) {
    const B x = B::load_unaligned(&xs[i]);
    alignas(16) float oe[B::size], os[B::size], ot[B::size];
    xsimd::exp(x).store_aligned(oe);
    nk::sigmoid_fwd(x).store_aligned(os);
    nk::tanh_fwd(x).store_aligned(ot);
    for (size_t l = 0; l < B::size; ++l) {
      const double xd = xs[i + l];
      // xsimd's exp saturates to inf from 88.376 (true overflow: 88.723);
      // no nabla kernel calls exp with a positive argument that large.
      if (xd < 88.37) e.add(xs[i + l], oe[l], std::exp(xd));
      s.add(xs[i + l], os[l], 1 / (1 + std::exp(-xd)));
      t.add(xs[i + l], ot[l], std::tanh(xd));
    }
  }
  std::printf("[ ulp sse2 ] exp %.2f (x=%g)  sigmoid %.2f (x=%g)  tanh %.2f (x=%g)\n", e.worst, e.at, s.worst, s.at,
              t.worst, t.at);
  EXPECT_LE(e.worst, 2.0);
  EXPECT_LE(s.worst, 4.0);
  EXPECT_LE(t.worst, 4.0);
  EXPECT_EQ(e.bad_special + s.bad_special + t.bad_special, 0);
}

TEST(Activation, SigmoidTanhUlpEveryIsa) {
  const auto xs = float_sweep();
  std::vector<float> out(xs.size());
  for_each_isa([&](nabla::Isa isa) {
    for (Activation f : kActs) {
      if (!f.info().transcendental) continue;
      nk::activation_forward(f, 1, 1, static_cast<int64_t>(xs.size()), xs.data(), BiasKind::None, nullptr, out.data());
      UlpReport r;
      for (size_t i = 0; i < xs.size(); ++i) r.add(xs[i], out[i], f64(f, xs[i]));
      std::printf("[ ulp %-7s] %-7s %.2f (x=%g)\n", nabla::isa_name(isa), nk::activation_name(f), r.worst, r.at);
      EXPECT_LE(r.worst, ulp_limit(f)) << nabla::test::label(f);
      EXPECT_EQ(r.bad_special, 0) << nabla::test::label(f);
    }
  });
}

TEST(Activation, ForwardMatchesReferenceAllSizes) {
  for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      auto x = nabla::test::special_and_uniform(n);
      x.resize(static_cast<size_t>(n));
      for (Activation f : kActs) {
        std::vector<float> got(x.size()), ref(x.size());
        nk::activation_forward(f, 1, 1, n, x.data(), BiasKind::None, nullptr, got.data());
        nk::activation_forward_reference(f, 1, 1, n, x.data(), BiasKind::None, nullptr, ref.data());
        for (int64_t i = 0; i < n; ++i) {
          // Exact for ReLU/None; 4 ulp in the normal range, results below it
          // (σ(−100) = 3.7e−44) may flush to 0.
          if (f.info().transcendental && std::fabs(ref[i]) < std::numeric_limits<float>::min()) {
            ASSERT_LE(std::fabs(got[i] - ref[i]), std::numeric_limits<float>::min()) << "x=" << x[i];
            continue;
          }
          const double tol = f.info().transcendental ? ulp_limit(f) : 0;
          ASSERT_LE(ulp_error(got[i], ref[i]), tol)
              << nabla::test::label(f) << " n=" << n << " i=" << i << " x=" << x[i] << " got " << got[i];
        }
      }
    }
  });
}

TEST(Activation, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {nan, inf, -inf, -100.f, 100.f, -0.f, 1e-40f};
  std::vector<float> y(x.size());
  for_each_isa([&](nabla::Isa) {
    for (Activation f : kActs) {
      nk::activation_forward(f, 1, 1, 7, x.data(), BiasKind::None, nullptr, y.data());
      EXPECT_TRUE(std::isnan(y[0])) << nabla::test::label(f) << ": NaN must propagate";
      for (int i = 1; i < 7; ++i) EXPECT_FALSE(std::isnan(y[i])) << nabla::test::label(f) << " x=" << x[i];
    }
    nk::activation_forward(Activation::Sigmoid, 1, 1, 7, x.data(), BiasKind::None, nullptr, y.data());
    EXPECT_EQ(y[1], 1.f);
    EXPECT_EQ(y[2], 0.f);
    EXPECT_GE(y[3], 0.f);
    EXPECT_LT(y[3], 1e-38f);  // σ(−100) = 3.7e−44: 0 or a denormal
    EXPECT_EQ(y[4], 1.f);
    nk::activation_forward(Activation::Tanh, 1, 1, 7, x.data(), BiasKind::None, nullptr, y.data());
    EXPECT_EQ(y[1], 1.f);
    EXPECT_EQ(y[2], -1.f);
    EXPECT_EQ(y[6], 1e-40f);  // tanh(x) = x for tiny x, denormals kept
  });
}

TEST(Activation, BiasPerColumnAndPerChannelInPlace) {
  struct Shape { int64_t batch, rows, cols; BiasKind kind; };
  const Shape shapes[] = {{1, 64, 256, BiasKind::PerCol}, {1, 7, 33, BiasKind::PerCol}, {1, 5, 1, BiasKind::PerCol},
                          {3, 6, 24 * 24, BiasKind::PerRow}, {2, 5, 17, BiasKind::PerRow}, {4, 3, 1, BiasKind::PerRow},
                          // above the parallel cut-off: the split cuts rows and batch items
                          {64, 6, 24 * 24 + 1, BiasKind::PerRow}, {1, 4099, 257, BiasKind::PerCol}};
  for_each_isa([&](nabla::Isa) {
    for (const auto& s : shapes) {
      const int64_t n = s.batch * s.rows * s.cols;
      const auto x = nabla::test::uniform(n, -6, 6);
      const auto bias = nabla::test::uniform(s.kind == BiasKind::PerRow ? s.rows : s.cols, -2, 2, 7);
      for (Activation f : kActs) {
        std::vector<float> got = x, ref(x.size());
        nk::activation_forward(f, s.batch, s.rows, s.cols, got.data(), s.kind, bias.data(), got.data());  // in place
        nk::activation_forward_reference(f, s.batch, s.rows, s.cols, x.data(), s.kind, bias.data(), ref.data());
        for (int64_t i = 0; i < n; ++i)
          ASSERT_LE(ulp_error(got[i], ref[i]), ulp_limit(f)) << nabla::test::label(f) << " shape " << s.batch << "x" << s.rows
                                                  << "x" << s.cols << " i=" << i;
      }
    }
  });
}

TEST(Activation, BackwardMatchesReferenceAndFiniteDifferences) {
  for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      const auto z = nabla::test::uniform(n, -5, 5, 3);
      const auto g = nabla::test::uniform(n, -1, 1, 4);
      for (Activation f : kActs) {
        std::vector<float> a(z.size()), got(z.size()), ref(z.size());
        nk::activation_forward(f, 1, 1, n, z.data(), BiasKind::None, nullptr, a.data());
        // D: the output, or z for the kinds whose derivative uses the input.
        const bool from_z = nk::derivative_uses_input(f.kind);
        const float* d = from_z ? z.data() : a.data();
        nk::activation_backward(f, n, d, g.data(), got.data());
        nk::activation_backward_reference(f, n, d, g.data(), ref.data());
        for (int64_t i = 0; i < n; ++i) {
          // GELU's and SiLU's f' = Φ + zφ, σ(1 + z(1 − σ)) have a root: there
          // the error is relative to the terms, O(|g|), not to their sum.
          ASSERT_LE(std::fabs(got[i] - ref[i]), 3e-7 * std::fabs(ref[i]) + (from_z ? 2e-7 * std::fabs(g[i]) : 1e-30))
              << nabla::test::label(f) << " n=" << n << " i=" << i;
          // Central difference of the float64 forward; away from the kinks at 0.
          if (std::fabs(z[i]) < 1e-3) continue;
          const double h = 1e-4;
          const double fd = g[i] * (f64(f, z[i] + h) - f64(f, z[i] - h)) / (2 * h);
          ASSERT_NEAR(got[i], fd, 1e-5 + 1e-5 * std::fabs(fd)) << nabla::test::label(f) << " z=" << z[i];
        }
      }
    }
    // In place (diff_src == diff_dst), and NaN in the gradient propagates.
    std::vector<float> a = {0.5f, 0.25f}, g = {std::numeric_limits<float>::quiet_NaN(), 2.f};
    nk::activation_backward(Activation::Sigmoid, 2, a.data(), g.data(), g.data());
    EXPECT_TRUE(std::isnan(g[0]));
    EXPECT_FLOAT_EQ(g[1], 2.f * 0.25f * 0.75f);
  });
}

// The residual block's add + activation, forward and backward, against the
// scalar references on every ISA, all test sizes (0..49, primes, large odd),
// every activation; in place on either operand; bitwise for any thread count.
TEST(AddActivation, MatchesReferenceInPlaceAndThreadCountBitwise) {
  for_each_isa([](nabla::Isa) {
    for (int64_t n : nabla::test::test_sizes()) {
      const auto a = nabla::test::uniform(n, -3, 3, 21), b = nabla::test::uniform(n, -3, 3, 22);
      const auto ga = nabla::test::uniform(n, -1, 1, 23), gb = nabla::test::uniform(n, -1, 1, 24);
      for (Activation f : kActs) {
        SCOPED_TRACE(nabla::test::label(f) + " n=" + std::to_string(n));
        std::vector<float> y(a.size()), yr(a.size());
        nk::add_activation_forward(f, n, a.data(), b.data(), y.data());
        nk::add_activation_forward_reference(f, n, a.data(), b.data(), yr.data());
        for (int64_t i = 0; i < n; ++i)
          ASSERT_LE(ulp_error(y[i], yr[i]), f.info().transcendental ? ulp_limit(f) : 0) << "y i=" << i;
        // In place on the second operand (out = act(out + r) is how a block writes).
        std::vector<float> inplace = b;
        nk::add_activation_forward(f, n, a.data(), inplace.data(), inplace.data());
        ASSERT_TRUE(nabla::test::bitwise_equal(inplace, y));
        // D: the output, or the sum for the kinds whose derivative uses the input.
        std::vector<float> d(a.size());
        for (int64_t i = 0; i < n; ++i) d[i] = nk::derivative_uses_input(f.kind) ? a[i] + b[i] : y[i];
        std::vector<float> dx(a.size()), dxr(a.size());
        nk::add_activation_backward(f, n, d.data(), ga.data(), gb.data(), dx.data());
        nk::add_activation_backward_reference(f, n, d.data(), ga.data(), gb.data(), dxr.data());
        const bool from_z = nk::derivative_uses_input(f.kind);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_LE(std::fabs(dx[i] - dxr[i]),
                    3e-7 * std::fabs(dxr[i]) + (from_z ? 4e-7 * std::fabs(ga[i] + gb[i]) : 1e-30))
              << "dx i=" << i;
        std::vector<float> ip = ga;
        nk::add_activation_backward(f, n, d.data(), ip.data(), gb.data(), ip.data());
        ASSERT_TRUE(nabla::test::bitwise_equal(ip, dx));
      }
      // None: a plain add, bitwise, with no D (null).
      std::vector<float> s(a.size());
      nk::add_activation_backward(Activation::None, n, nullptr, ga.data(), gb.data(), s.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(s[i], ga[i] + gb[i]);
    }
    const int64_t big = 64 * 32 * 196 + 17;  // above the parallel cut-off
    const auto a = nabla::test::uniform(big, -3, 3, 31), b = nabla::test::uniform(big, -3, 3, 32);
    std::vector<float> y0, d0;
    nabla::test::for_each_thread_count([&](int) {
      std::vector<float> y(a.size()), d(a.size());
      nk::add_activation_forward(Activation::ReLU, big, a.data(), b.data(), y.data());
      nk::add_activation_backward(Activation::ReLU, big, y.data(), a.data(), b.data(), d.data());
      if (y0.empty()) y0 = y, d0 = d;
      EXPECT_TRUE(nabla::test::bitwise_equal(y, y0));
      EXPECT_TRUE(nabla::test::bitwise_equal(d, d0));
    });
  });
  float x[4] = {};
  EXPECT_THROW(nk::add_activation_forward(Activation::ReLU, -1, x, x, x), nabla::Error);
  EXPECT_THROW(nk::add_activation_forward(Activation::ReLU, 4, x, nullptr, x), nabla::Error);
  EXPECT_THROW(nk::add_activation_backward(Activation::ReLU, 4, nullptr, x, x, x), nabla::Error);
}

TEST(Softmax, ForwardVsFloat64) {
  double worst = 0;
  for_each_isa([&](nabla::Isa) {
    for (int64_t cols : {1, 2, 3, 10, 15, 16, 17, 31, 33, 47, 48, 49, 256, 1001}) {
      for (BiasKind kind : {BiasKind::None, BiasKind::PerCol, BiasKind::PerRow}) {
        const int64_t rows = 5;
        const auto x = nabla::test::uniform(rows * cols, -100, 100, static_cast<uint32_t>(cols));
        const auto bias = nabla::test::uniform(std::max(rows, cols), -3, 3, 9);
        std::vector<float> got(x.size()), ref(x.size());
        nk::softmax_forward(rows, cols, x.data(), kind, bias.data(), got.data());
        nk::softmax_forward_reference(rows, cols, x.data(), kind, bias.data(), ref.data());
        for (int64_t r = 0; r < rows; ++r) {
          double m = -INFINITY, s = 0;
          auto z = [&](int64_t j) {
            const float b = kind == BiasKind::PerCol ? bias[j] : kind == BiasKind::PerRow ? bias[r] : 0.f;
            return static_cast<double>(x[r * cols + j] + b);
          };
          for (int64_t j = 0; j < cols; ++j) m = std::max(m, z(j));
          for (int64_t j = 0; j < cols; ++j) s += std::exp(z(j) - m);
          for (int64_t j = 0; j < cols; ++j) {
            const double p = std::exp(z(j) - m) / s;
            const double err = std::fabs(got[r * cols + j] - p);
            // Relative for the representable probabilities; tiny ones absolute.
            if (p > 1e-30) worst = std::max(worst, err / p);
            ASSERT_LE(err, 1e-6 * p + 1e-37) << "cols=" << cols << " r=" << r << " j=" << j;
            ASSERT_LE(std::fabs(got[r * cols + j] - ref[r * cols + j]), 1e-6 * p + 1e-37);
          }
        }
      }
    }
  });
  std::printf("[ softmax  ] worst relative error vs float64 %.3g (%.2f ulp of 1)\n", worst, worst / 5.96e-8);
}

TEST(Softmax, SpecialValuesAndInPlace) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for_each_isa([&](nabla::Isa) {
    std::vector<float> x = {1000.f, 1000.f, -inf, 999.f};  // large logits: max-subtracted, no overflow
    nk::softmax_forward(1, 4, x.data(), BiasKind::None, nullptr, x.data());
    const double e = std::exp(-1.0), s = 2 + e;
    EXPECT_NEAR(x[0], 1 / s, 1e-7);
    EXPECT_EQ(x[2], 0.f);
    EXPECT_NEAR(x[3], e / s, 1e-7);
    std::vector<float> y = {1.f, nan, 2.f};
    nk::softmax_forward(1, 3, y.data(), BiasKind::None, nullptr, y.data());
    for (float v : y) EXPECT_TRUE(std::isnan(v)) << "a NaN makes its row NaN";
  });
}

TEST(Softmax, BackwardMatchesReferenceAndFiniteDifferences) {
  for_each_isa([](nabla::Isa) {
    for (int64_t cols : {1, 5, 16, 17, 40, 300}) {
      const int64_t rows = 3;
      const auto z = nabla::test::uniform(rows * cols, -3, 3, 11);
      const auto g = nabla::test::uniform(rows * cols, -1, 1, 12);
      std::vector<float> a(z.size()), got(z.size()), ref(z.size());
      nk::softmax_forward(rows, cols, z.data(), BiasKind::None, nullptr, a.data());
      nk::softmax_backward(rows, cols, a.data(), g.data(), got.data());
      nk::softmax_backward_reference(rows, cols, a.data(), g.data(), ref.data());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t i = r * cols + j;
          ASSERT_NEAR(got[i], ref[i], 1e-6 * (std::fabs(ref[i]) + a[i]));
          // d/dz_j Σ_k g_k softmax_k(z), central differences in float64.
          auto L = [&](double dz) {
            double m = -INFINITY, s = 0, l = 0;
            for (int64_t k = 0; k < cols; ++k) m = std::max(m, z[r * cols + k] + (k == j ? dz : 0.0));
            for (int64_t k = 0; k < cols; ++k) s += std::exp(z[r * cols + k] + (k == j ? dz : 0.0) - m);
            for (int64_t k = 0; k < cols; ++k) l += g[r * cols + k] * std::exp(z[r * cols + k] + (k == j ? dz : 0.0) - m) / s;
            return l;
          };
          const double fd = (L(1e-5) - L(-1e-5)) / 2e-5;
          ASSERT_NEAR(got[i], fd, 1e-5) << "cols=" << cols << " j=" << j;
        }
    }
  });
}

TEST(BiasGrad, MatchesReference) {
  struct Shape { int64_t batch, rows, cols; BiasKind kind; };
  const Shape shapes[] = {{1, 64, 256, BiasKind::PerCol}, {1, 64, 10, BiasKind::PerCol}, {1, 1, 49, BiasKind::PerCol},
                          {1, 0, 5, BiasKind::PerCol},    {1, 300, 17, BiasKind::PerCol}, {64, 6, 576, BiasKind::PerRow},
                          {3, 5, 1, BiasKind::PerRow},    {0, 4, 9, BiasKind::PerRow},    {2, 7, 33, BiasKind::PerRow}};
  for_each_isa([&](nabla::Isa) {
    for (const auto& s : shapes) {
      const int64_t len = s.kind == BiasKind::PerRow ? s.rows : s.cols;
      const auto d = nabla::test::uniform(s.batch * s.rows * s.cols, -1, 1, 5);
      for (bool acc : {false, true}) {
        std::vector<float> got(static_cast<size_t>(len), 0.5f), ref(static_cast<size_t>(len), 0.5f);
        nk::bias_grad(s.batch, s.rows, s.cols, d.data(), s.kind, got.data(), acc);
        nk::bias_grad_reference(s.batch, s.rows, s.cols, d.data(), s.kind, ref.data(), acc);
        const double terms = static_cast<double>(s.batch * s.rows * s.cols) / std::max<int64_t>(1, len);
        for (int64_t t = 0; t < len; ++t)
          ASSERT_NEAR(got[t], ref[t], 1e-6 * std::sqrt(terms) + 1e-6)
              << "shape " << s.batch << "x" << s.rows << "x" << s.cols << " t=" << t << " acc=" << acc;
      }
    }
  });
}

TEST(BiasGrad, ThreadCountBitwise) {
  // Above the parallel cut-offs: conv-sized per channel and a tall [N, F].
  struct Shape { int64_t batch, rows, cols; BiasKind kind; };
  const Shape shapes[] = {{64, 32, 28 * 28, BiasKind::PerRow}, {1, 8192, 200, BiasKind::PerCol}};
  for_each_isa([&](nabla::Isa) {
    for (const auto& s : shapes) {
      const auto d = nabla::test::uniform(s.batch * s.rows * s.cols, -1, 1, 6);
      std::vector<float> first;
      nabla::test::for_each_thread_count([&](int) {
        std::vector<float> db(static_cast<size_t>(s.kind == BiasKind::PerRow ? s.rows : s.cols));
        nk::bias_grad(s.batch, s.rows, s.cols, d.data(), s.kind, db.data());
        if (first.empty()) first = db;
        EXPECT_TRUE(nabla::test::bitwise_equal(first, db));
      });
    }
  });
}

TEST(Activation, InvalidArgumentsThrow) {
  float x[4] = {};
  EXPECT_THROW(nk::activation_forward(Activation::ReLU, 1, -2, 3, x, BiasKind::None, nullptr, x), nabla::Error);
  EXPECT_THROW(nk::activation_forward(Activation::ReLU, 1, 2, 2, x, BiasKind::PerCol, nullptr, x), nabla::Error);
  EXPECT_THROW(nk::activation_forward(Activation::ReLU, 1, 2, 2, nullptr, BiasKind::None, nullptr, x), nabla::Error);
  EXPECT_THROW(nk::activation_backward(Activation::Tanh, 4, nullptr, x, x), nabla::Error);
  EXPECT_THROW(nk::softmax_forward(2, -1, x, BiasKind::None, nullptr, x), nabla::Error);
  EXPECT_THROW(nk::bias_grad(1, 2, 2, x, BiasKind::None, x), nabla::Error);
  try {
    nk::activation_forward(Activation::Sigmoid, 1, 3, -5, x, BiasKind::None, nullptr, x);
    FAIL();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cols=-5"), std::string::npos) << e.what();
  }
  // Empty inputs are no-ops, null pointers allowed.
  EXPECT_NO_THROW(nk::activation_forward(Activation::Tanh, 0, 3, 3, nullptr, BiasKind::PerCol, nullptr, nullptr));
  EXPECT_NO_THROW(nk::activation_backward(Activation::Tanh, 0, nullptr, nullptr, nullptr));
}
