// SGEMM: every compiled micro-kernel variant of every ISA this CPU has, and
// the public nabla::kernels::gemm() with each of those ISAs forced, against a
// float64 model (gemm_tester.hpp); results bitwise independent of the thread
// count; every bad argument throws nabla::Error.
//
// Variants run through detail::gemm_run with their ISA's default blocking, or
// with blocking overridden to reach a path cheaply:
//   unpacked  small_flops = ∞: full row tiles read A in place (the
//             small-problem path; partial ones are packed on their own;
//             an lda that is a multiple of 1024 packs anyway)
//   packed    small_flops = 0, mc = MR: A is packed, and B too (B is
//             packed when it is transposed or when several MC row blocks
//             reuse a panel, m > mc; else full panels are read in place)
//   small     mc = 2·MR, kc = 16, nc = 2·NR, packed: every block boundary is
//             crossed by shapes of a few dozen
//   parallel  parallel_flops = 0, task_flops = 1: split over every thread
// Everything else is serial (parallel_flops = ∞) so that one test does not
// depend on the machine's core count. Under "unpacked" an untransposed B is
// read in place (m <= MC); under "packed" and "small" it is packed as soon
// as m > MR.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "activation_test_util.hpp"
#include "gemm_tester.hpp"

namespace {

using namespace nabla_test;
using nabla::GemmConfig;
using nabla::Isa;

constexpr BiasKind kNoBias = BiasKind::None, kPerRow = BiasKind::PerRow, kPerCol = BiasKind::PerCol;
constexpr Activation kNone = Activation::None, kReLU = Activation::ReLU, kSigmoid = Activation::Sigmoid,
                     kTanh = Activation::Tanh;
constexpr bool kBools[] = {false, true};

bool cpu_has(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(nabla::cpu_info().best_isa); }

/// A test parameter: one compiled variant (printed by name).
struct Variant {
  const GemmVariant* v;
  friend void PrintTo(const Variant& p, std::ostream* os) { *os << p.v->name; }
};

std::vector<Variant> all_variants() {
  std::vector<Variant> out;
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512})
    for (const GemmVariant& v : nabla::kernels::detail::gemm_variants(isa)) out.push_back({&v});
  return out;
}

// ---- blocking configurations (see the top of the file) --------------------
GemmConfig serial_default(const GemmVariant& v) {
  GemmConfig c = nabla::default_gemm_config(v.isa);
  c.mr = v.mr;
  c.nr = v.nr;
  c.parallel_flops = kNever;
  return c;
}
GemmConfig unpacked(GemmConfig c) {
  c.small_flops = kNever;
  return c;
}
GemmConfig packed(GemmConfig c) {
  c.small_flops = 0;
  c.mc = c.mr;
  return c;
}
/// One configuration per packing of detail::gemm_packings() (the list drives
/// the tests: a new packing is tested with no other change); those that pack
/// A also take mc = MR, as packed() does, so that B is packed once m > MR.
std::vector<GemmConfig> packings(const GemmConfig& base) {
  std::vector<GemmConfig> out;
  for (const auto& pk : nabla::kernels::detail::gemm_packings()) {
    GemmConfig c = base;
    c.small_flops = pk.small_flops;
    if (c.small_flops == 0) c.mc = c.mr;
    out.push_back(c);
  }
  return out;
}
/// packings(base) followed by the extra configurations.
std::vector<GemmConfig> packings(const GemmConfig& base, std::initializer_list<GemmConfig> extra) {
  std::vector<GemmConfig> out = packings(base);
  out.insert(out.end(), extra);
  return out;
}
GemmConfig small_blocking(const GemmVariant& v) {
  GemmConfig c = packed(serial_default(v));
  c.mc = 2 * v.mr;
  c.kc = 16;
  c.nc = 2 * v.nr;
  return c;
}
GemmConfig parallel(GemmConfig c) {
  c.parallel_flops = 0;
  c.task_flops = 1;
  return c;
}

/// alpha, beta and the epilogue of one case.
struct Flavour {
  float alpha, beta;
  BiasKind bias;
  Activation act, deriv;
  GemmTester& apply(GemmTester& t) const { return t.alpha(alpha).beta(beta).bias(bias).act(act).deriv(deriv); }
};

/// Every epilogue: none; bias per row/column with each activation; each
/// derivative, alone and after a bias.
/// (Generated from the activation table: a new activation is tested here
/// without editing this list.)
const std::vector<Flavour> kEpilogues = [] {
  std::vector<Flavour> v = {{1, 0, kNoBias, kNone, kNone}, {1, 0, kPerRow, kNone, kNone}, {1, 0, kPerCol, kNone, kNone}};
  for (Activation f : nabla::test::real_activations()) {
    v.push_back({1, 0, kPerRow, f, kNone});
    v.push_back({1, 0, kPerCol, f, kNone});
    v.push_back({1, 0, kNoBias, kNone, f});
  }
  v.push_back({1, 0, kPerRow, kNone, kSigmoid});
  v.push_back({1, 0, kPerCol, kNone, kReLU});
  return v;
}();

std::string trans_trace(bool ta, bool tb) {
  return std::string("ta=") + (ta ? "Yes" : "No") + " tb=" + (tb ? "Yes" : "No");
}

// =========================================================================
// Every micro-kernel variant through detail::gemm_run.
// =========================================================================
class GemmVariantTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!cpu_has(v().isa))
      GTEST_SKIP() << v().name << " needs " << nabla::isa_name(v().isa) << "; this CPU has at most "
                   << nabla::isa_name(nabla::cpu_info().best_isa);
  }
  const GemmVariant& v() const { return *GetParam().v; }
  int64_t mr() const { return v().mr; }
  int64_t nr() const { return v().nr; }
};

// Every partial tile: m = 1..MR+1 × n = 1..NR+1, then each m and each n
// again after two full tiles; on both A (and B) paths, each with four flavours that read C, the bias and D
// through the partial (masked) loads of an edge tile.
TEST_P(GemmVariantTest, SubTiles) {
  struct Case {
    int64_t k;
    bool pad;
    Flavour f;
  };
  const Case cases[] = {
      {1, false, {1.f, 0.f, kNoBias, kNone, kNone}},
      {2, true, {-0.5f, -1.5f, kPerCol, kReLU, kNone}},
      {7, true, {2.f, 1.f, kPerRow, kTanh, kNone}},
      {5, true, {1.f, 0.f, kPerRow, kNone, kReLU}},
  };
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (int64_t m = 1; m <= mr() + 1; ++m)
    for (int64_t n = 1; n <= nr() + 1; ++n) shapes.emplace_back(m, n);
  for (int64_t e = 1; e <= mr() + 1; ++e) shapes.emplace_back(2 * mr() + e, 2 * nr() + 3);
  for (int64_t e = 1; e <= nr() + 1; ++e) shapes.emplace_back(2 * mr() + 3, 2 * nr() + e);
  const GemmConfig base = serial_default(v());
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (auto [m, n] : shapes)
        for (const GemmConfig& cfg : packings(base))
          for (const Case& c : cases) {
            GemmTester t;
            c.f.apply(t.m(m).n(n).k(c.k).ta(ta).tb(tb).pad(c.pad)).Test(v(), cfg);
            if (HasFailure()) return;
          }
    }
}

// k around the default KC (one, two and three k blocks), on both A paths and
// both B paths.
TEST_P(GemmVariantTest, KSweep) {
  const GemmConfig base = serial_default(v());
  const int64_t kc = base.kc;
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{16}, int64_t{17}, kc - 1, kc,
                        kc + 1, 2 * kc + 3})
        for (const GemmConfig& cfg : packings(base))
          for (auto [m, alpha, beta] : {std::tuple{mr() + 3, 1.f, 0.f}, std::tuple{2 * mr() + 1, -0.5f, 1.f}}) {
            GemmTester().m(m).n(2 * nr() + 3).k(k).ta(ta).tb(tb).pad(true).alpha(alpha).beta(beta).Test(v(), cfg);
            if (HasFailure()) return;
          }
    }
}

// m, n, k just below, at and above MC, NC, KC and past two blocks, with a
// small blocking so that the shapes stay cheap; beta applies to the first k
// block only and the epilogue to the last, so these cycle through flavours
// that use both.
TEST_P(GemmVariantTest, BlockBoundaries) {
  const GemmConfig small = small_blocking(v());
  const int64_t mc = small.mc, kc = small.kc, nc = small.nc;
  const Flavour flavours[] = {
      {1.f, 0.f, kNoBias, kNone, kNone},
      {-0.5f, -1.5f, kPerCol, kSigmoid, kNone},
      {2.f, 1.f, kPerRow, kNone, kTanh},
  };
  int idx = 0;
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (int64_t m : {mc - 1, mc, mc + 1, 2 * mc + 3})
        for (int64_t n : {nc - 1, nc, nc + 1, 2 * nc + 3})
          for (int64_t k : {kc - 1, kc, kc + 1, 2 * kc + 3})
            for (const GemmConfig& cfg : {small, unpacked(small)}) {
              GemmTester t;
              flavours[idx++ % 3].apply(t.m(m).n(n).k(k).ta(ta).tb(tb).pad(true)).Test(v(), cfg);
              if (HasFailure()) return;
            }
    }
}

TEST_P(GemmVariantTest, PrimeShapes) {
  struct Shape {
    int64_t m, n, k;
  };
  const GemmConfig base = serial_default(v());
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (Shape s : {Shape{31, 37, 41}, Shape{97, 101, 13}, Shape{7, 193, 61}})
        for (const GemmConfig& cfg : packings(base, {small_blocking(v())})) {
          GemmTester().m(s.m).n(s.n).k(s.k).ta(ta).tb(tb).pad(true).alpha(-0.5f).beta(1.f).Test(v(), cfg);
          if (HasFailure()) return;
        }
    }
}

// Leading dimensions far larger than the shape, including multiples of 4 KiB
// (which make the driver pack A even on the small-problem path).
TEST_P(GemmVariantTest, LargeLeadingDimensions) {
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (const GemmConfig& cfg : {unpacked(serial_default(v())), small_blocking(v())})
        for (int64_t m : {mr() + 3, 2 * mr() + 3}) {
          GemmTester().m(m).n(2 * nr() + 1).k(37).ta(ta).tb(tb).lda(1024).ldb(2048).ldc(1031).ldd(1024)
              .beta(-1.5f).deriv(kSigmoid).Test(v(), cfg);
          if (HasFailure()) return;
        }
    }
}

// alpha in {1, -0.5, 2, 0} × beta in {0, 1, -1.5}, without and with an
// epilogue, in one k block and in three. The tester poisons C with NaN when
// beta == 0 and A, B when alpha == 0: neither may leak.
TEST_P(GemmVariantTest, AlphaBeta) {
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (float alpha : {1.f, -0.5f, 2.f, 0.f})
        for (float beta : {0.f, 1.f, -1.5f})
          for (const Flavour& ep : {kEpilogues[0], Flavour{1, 0, kPerRow, kSigmoid, kNone}})
            for (const GemmConfig& cfg : {packed(serial_default(v())), small_blocking(v())}) {
              GemmTester t;
              t.m(mr() + 3).n(2 * nr() + 5).k(37).ta(ta).tb(tb).pad(true);
              t.bias(ep.bias).act(ep.act).deriv(ep.deriv).alpha(alpha).beta(beta).Test(v(), cfg);
              if (HasFailure()) return;
            }
    }
}

TEST_P(GemmVariantTest, Epilogues) {
  const GemmConfig base = serial_default(v());
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (const Flavour& ep : kEpilogues)
        for (auto [alpha, beta] : {std::pair{1.f, 0.f}, std::pair{2.f, -1.5f}})
          for (const GemmConfig& cfg : packings(base, {small_blocking(v())})) {
            GemmTester t;
            t.m(2 * mr() + 3).n(2 * nr() + 5).k(19).ta(ta).tb(tb).pad(true);  // pad: ldd > n
            t.bias(ep.bias).act(ep.act).deriv(ep.deriv).alpha(alpha).beta(beta).Test(v(), cfg);
            if (HasFailure()) return;
          }
    }
}

// A NaN in op(A) poisons its row of C and one in op(B) its column; neither
// the ReLU nor the packing may hide it. Placed in the last (edge) row and
// column, at the last and first k.
TEST_P(GemmVariantTest, NanPropagates) {
  const GemmConfig base = serial_default(v());
  const int64_t m = mr() + 2, n = 2 * nr() + 3, k = 21;
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (Activation act : {kNone, kReLU})
        for (const GemmConfig& cfg : packings(base, {small_blocking(v())})) {
          GemmTester().m(m).n(n).k(k).ta(ta).tb(tb).pad(true).act(act).nan_a(m - 1, k - 1).nan_b(0, n - 1)
              .Test(v(), cfg);
          if (HasFailure()) return;
        }
    }
}

// k == 0: C = beta·C, then the epilogue.
TEST_P(GemmVariantTest, ZeroK) {
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (auto [m, n] : {std::pair{mr() + 1, nr() + 1}, std::pair{2 * mr() + 1, 2 * nr() + 3}})
        for (float beta : {0.f, 1.f, -1.5f})
          for (const Flavour& ep : {kEpilogues[0], Flavour{1, 0, kPerCol, kTanh, kNone}, Flavour{1, 0, kNoBias, kNone, kSigmoid},
                                    Flavour{1, 0, kPerRow, kReLU, kNone}}) {
            GemmTester t;
            t.m(m).n(n).k(0).ta(ta).tb(tb).pad(true).bias(ep.bias).act(ep.act).deriv(ep.deriv).beta(beta)
                .Test(v(), packed(serial_default(v())));
            if (HasFailure()) return;
          }
    }
}

// m == 0 or n == 0: C is not touched, whatever beta and the epilogue say.
TEST_P(GemmVariantTest, EmptyLeavesCUntouched) {
  std::vector<float> a(64, 1.f), b(64, 1.f), bias(8, 1.f), c(64, 3.f);
  const std::vector<float> c0 = c;
  GemmArgs g;
  g.a = a.data();
  g.b = b.data();
  g.c = c.data();
  g.lda = g.ldb = g.ldc = 4;
  g.k = 3;
  g.beta = 0.f;
  g.ep = Epilogue::bias_act(kPerRow, bias.data(), kSigmoid);
  for (auto [m, n] : {std::pair{0, 4}, std::pair{4, 0}, std::pair{0, 0}}) {
    g.m = m;
    g.n = n;
    nabla::kernels::detail::gemm_run(v(), packed(serial_default(v())), g);
    EXPECT_EQ(c, c0) << v().name << " m=" << m << " n=" << n;
  }
}

// Split over 1, 2 and 3 threads, the result is bitwise the same (the tester
// compares every thread count with the first), and right.
TEST_P(GemmVariantTest, ThreadCountsBitwise) {
  const std::vector<int> counts = {1, 2, 3};
  const int64_t kc = nabla::default_gemm_config(v().isa).kc;
  // Default blocking: a grid of tiles in both directions, two k blocks.
  GemmTester().m(7 * mr() + 3).n(5 * nr() + 1).k(kc + 5).tb(true).beta(-1.5f).bias(kPerCol).act(kReLU)
      .threads(counts).Test(v(), parallel(packed(serial_default(v()))));
  // Small blocking: several MC and NC blocks per task; thin in m, then in n.
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      GemmTester().m(5 * mr() + 1).n(4 * nr() + 3).k(37).ta(ta).tb(tb).pad(true).beta(1.f).deriv(kTanh)
          .threads(counts).Test(v(), parallel(small_blocking(v())));
      GemmTester().m(20 * mr() + 1).n(3).k(29).ta(ta).tb(tb).threads(counts)
          .Test(v(), parallel(unpacked(small_blocking(v()))));
      GemmTester().m(2).n(12 * nr() + 5).k(29).ta(ta).tb(tb).bias(kPerRow).act(kTanh).threads(counts)
          .Test(v(), parallel(small_blocking(v())));
      if (HasFailure()) return;
    }
}

// Indirect operands (GemmArgs::b_rows, a_rows: each row of the operand at
// its own offset, as the convolution's implicit column matrix reads a
// padded image): bitwise the result of the same call on the dense
// operand, on every path (B in place, B packed, B transposed and packed;
// A in place and packed), across edge tiles and block boundaries, with
// the in-register ReLU and ReLU-derivative epilogues and on 1-3 threads.
TEST_P(GemmVariantTest, IndirectOperandsMatchDense) {
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const int64_t kc = nabla::default_gemm_config(v().isa).kc;
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{mr() - 1 > 0 ? mr() - 1 : 1, nr() + 1, 7},
                          {mr() + 1, 2 * nr() - 1, 29},
                          {3 * mr(), 3 * nr(), kc + 5},
                          {2 * mr() + 3, nr() - 1 > 0 ? nr() - 1 : 1, 2 * kc + 1},
                          {1, 5 * nr() + 3, 13}};
  // Rows of `rows` × `cols` scattered in reverse order with gaps; the dense copy beside.
  auto scatter = [&](int64_t rows, int64_t cols, std::vector<float>& dense, std::vector<float>& store,
                     std::vector<int64_t>& off) {
    dense.resize(static_cast<size_t>(rows * cols));
    for (float& x : dense) x = u(rng);
    const int64_t pitch = cols + 3;
    store.assign(static_cast<size_t>(rows * pitch + 5), std::numeric_limits<float>::quiet_NaN());
    off.resize(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      off[static_cast<size_t>(r)] = (rows - 1 - r) * pitch + 2;
      std::copy_n(dense.data() + r * cols, cols, store.data() + off[static_cast<size_t>(r)]);
    }
  };
  const int saved_threads = nabla::num_threads();
  const GemmConfig base = serial_default(v());
  const GemmConfig configs[] = {base, unpacked(base), packed(base), small_blocking(v()), parallel(small_blocking(v()))};
  for (const Shape& sh : shapes)
    for (int which = 0; which < 3; ++which) {  // 0: indirect B, 1: indirect Bᵀ, 2: indirect A
      const bool tb = which == 1;
      std::vector<float> a_dense, a_store, b_dense, b_store, d(static_cast<size_t>(sh.m * sh.n));
      std::vector<int64_t> a_off, b_off;
      for (float& x : d) x = u(rng);
      if (which == 2) {
        scatter(sh.m, sh.k, a_dense, a_store, a_off);
        b_dense.resize(static_cast<size_t>(sh.k * sh.n));
        for (float& x : b_dense) x = u(rng);
      } else {
        a_dense.resize(static_cast<size_t>(sh.m * sh.k));
        for (float& x : a_dense) x = u(rng);
        if (tb) scatter(sh.n, sh.k, b_dense, b_store, b_off);
        else scatter(sh.k, sh.n, b_dense, b_store, b_off);
      }
      for (const Epilogue& ep : {Epilogue{}, Epilogue::bias_act(kNoBias, nullptr, kReLU),
                                 Epilogue::derivative(kReLU, d.data(), sh.n)})
        for (const GemmConfig& cfg : configs) {
          SCOPED_TRACE(std::string(v().name) + " m=" + std::to_string(sh.m) + " n=" + std::to_string(sh.n) +
                       " k=" + std::to_string(sh.k) + " case=" + std::to_string(which));
          GemmArgs g{false, tb, sh.m, sh.n, sh.k, 1.f, a_dense.data(), sh.k, b_dense.data(), tb ? sh.k : sh.n,
                     0.f, nullptr, sh.n, ep};
          std::vector<float> c_dense(static_cast<size_t>(sh.m * sh.n)), c_ind(c_dense.size());
          g.c = c_dense.data();
          for (int t : {1, 2, 3}) {
            nabla::set_num_threads(t);
            nabla::kernels::detail::gemm_run(v(), cfg, g);
            GemmArgs h = g;
            h.c = c_ind.data();
            if (which == 2) {
              h.a = a_store.data();
              h.lda = 1;
              h.a_rows = a_off.data();
            } else {
              h.b = b_store.data();
              h.ldb = 1;
              h.b_rows = b_off.data();
            }
            nabla::kernels::detail::gemm_run(v(), cfg, h);
            EXPECT_EQ(0, std::memcmp(c_dense.data(), c_ind.data(), sizeof(float) * c_dense.size()))
                << "threads=" << t;
          }
          nabla::set_num_threads(saved_threads);
          if (HasFailure()) return;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, GemmVariantTest, ::testing::ValuesIn(all_variants()),
                         [](const ::testing::TestParamInfo<Variant>& p) {
                           return std::string(p.param.v->name);
                         });

TEST(GemmVariants, EveryIsaListsItsDefaultFirst) {
  for (Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) {
    SCOPED_TRACE(nabla::isa_name(isa));
    const auto variants = nabla::kernels::detail::gemm_variants(isa);
    ASSERT_FALSE(variants.empty());
    const GemmConfig cfg = nabla::default_gemm_config(isa);
    EXPECT_EQ(variants[0].mr, cfg.mr);
    EXPECT_EQ(variants[0].nr, cfg.nr);
    for (const GemmVariant& v : variants) {
      EXPECT_EQ(v.isa, isa) << v.name;
      EXPECT_NE(std::string(v.name).find(std::to_string(v.mr) + "x" + std::to_string(v.nr)), std::string::npos)
          << v.name;
    }
  }
}

TEST(GemmVariants, NamesFollowTheGrammar) {
  const auto& v = nabla::kernels::detail::gemm_variants(Isa::Generic)[0];
  const std::string tile = std::to_string(v.mr) + "x" + std::to_string(v.nr);
  const auto packs = nabla::kernels::detail::gemm_packings();
  ASSERT_GE(packs.size(), 2u);
  EXPECT_EQ(nabla::kernels::detail::gemm_variant_name(v, packs[0]), "f32_gemm_" + tile + "_sse2");
  EXPECT_EQ(nabla::kernels::detail::gemm_variant_name(v, false), "f32_gemm_" + tile + "_inplace_a_sse2");
  EXPECT_EQ(nabla::kernels::detail::gemm_variant_name(
                v, true, nabla::kernels::Epilogue::bias_act(kPerCol, nullptr, kReLU)),
            "f32_gemm_bias_relu_" + tile + "_sse2");
}

// =========================================================================
// The public gemm() with each ISA the CPU has forced by set_isa().
// =========================================================================
/// A test parameter: one ISA (printed by name).
struct IsaParam {
  Isa isa;
  friend void PrintTo(const IsaParam& p, std::ostream* os) { *os << nabla::isa_name(p.isa); }
};

class GemmIsaTest : public ::testing::TestWithParam<IsaParam> {
 protected:
  void SetUp() override {
    if (!cpu_has(isa()))
      GTEST_SKIP() << nabla::isa_name(isa()) << " is not available; this CPU has at most "
                   << nabla::isa_name(nabla::cpu_info().best_isa);
    nabla::set_isa(isa());
    ASSERT_EQ(nabla::active_isa(), isa());
  }
  Isa isa() const { return GetParam().isa; }

  // The variant gemm() should run for the tester's problem: the driver's own
  // shape-based choice (auto_tile), else the configured tile.
  const GemmVariant& dispatched_variant(const GemmTester& t) const {
    const GemmConfig cfg = nabla::gemm_config(isa());
    const auto variants = nabla::kernels::detail::gemm_variants(isa());
    if (cfg.auto_tile) {
      GemmArgs g;
      g.ta = t.is_ta();
      g.tb = t.is_tb();
      g.m = t.get_m();
      g.n = t.get_n();
      g.k = t.get_k();
      g.lda = t.lda();
      g.ldb = t.ldb();
      g.ldc = t.ldc();
      return nabla::kernels::detail::select_variant(variants, g.m, g.n, g.k,
                                                    !nabla::kernels::detail::gemm_packs_a(cfg, g));
    }
    for (const GemmVariant& v : variants)
      if (v.mr == cfg.mr && v.nr == cfg.nr) return v;
    ADD_FAILURE() << "no variant for " << nabla::to_string(cfg);
    return variants[0];
  }

  // gemm() against the model, and bitwise equal to the variant it should
  // dispatch to, run directly with the same configuration.
  void CheckDispatch(GemmTester t) const {
    const std::vector<float> got = t.TestPublic();
    const GemmVariant& v = dispatched_variant(t);
    const std::vector<float> direct = t.verify(false).Test(v, nabla::gemm_config(isa()));
    EXPECT_TRUE(got.size() == direct.size() &&
                std::memcmp(got.data(), direct.data(), got.size() * sizeof(float)) == 0)
        << "gemm() on " << nabla::isa_name(isa()) << " differs from " << v.name << " run directly, "
        << t.Describe();
  }

  IsaGuard restore_isa_;
};

/// Restores the default GEMM configurations on scope exit.
struct GemmConfigGuard {
  GemmConfigGuard() = default;
  GemmConfigGuard(const GemmConfigGuard&) = delete;
  GemmConfigGuard& operator=(const GemmConfigGuard&) = delete;
  ~GemmConfigGuard() { nabla::reset_gemm_config(); }
};

// The default configuration (shape-based tile choice): small and prime
// shapes, batch-64 training shapes, few rows, few columns.
TEST_P(GemmIsaTest, MatchesModelAndDispatchedVariant) {
  const GemmConfig cfg = nabla::gemm_config(isa());
  struct Shape {
    int64_t m, n, k;
  };
  const Shape shapes[] = {{1, 1, 1},      {cfg.mr + 1, cfg.nr + 1, 3}, {2 * cfg.mr + 3, 2 * cfg.nr + 5, cfg.kc + 1},
                          {31, 37, 41},   {97, 101, 13},               {3, 3 * cfg.nr + 1, 2 * cfg.kc + 3},
                          {64, 10, 50},   {64, 100, 30},               {6, 130, 20},
                          {5, 4, 0}};
  const Flavour flavours[] = {
      {1.f, 0.f, kNoBias, kNone, kNone},
      {-0.5f, 1.f, kPerCol, kReLU, kNone},
      {2.f, -1.5f, kPerRow, kSigmoid, kNone},
      {0.f, 1.f, kPerCol, kTanh, kNone},
      {1.f, 0.f, kPerRow, kNone, kTanh},
  };
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (const Shape& s : shapes)
        for (const Flavour& f : flavours) {
          GemmTester t;
          CheckDispatch(f.apply(t.m(s.m).n(s.n).k(s.k).ta(ta).tb(tb).pad(true)));
          if (HasFailure()) return;
        }
    }
}

// The tile and the packing never change a result: every variant of the ISA,
// with A packed and read in place, gives the same bits (each element is the
// same FMA chain over the same KC blocks). Caught: GCC fused beta·C +
// alpha·acc differently in one instantiation before the FMAs were explicit.
TEST_P(GemmIsaTest, EveryTileGivesTheSameBits) {
  const auto variants = nabla::kernels::detail::gemm_variants(isa());
  const Flavour flavours[] = {{1.f, 0.f, kNoBias, kNone, kNone},
                              {-0.5f, 1.5f, kPerRow, kTanh, kNone},
                              {1.f, 1.5f, kPerCol, kNone, kNone},
                              {0.75f, -1.f, kNoBias, kNone, kSigmoid}};
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape s : {Shape{33, 1, 50}, Shape{1, 70, 30}, Shape{17, 37, 400}, Shape{64, 10, 128}})
    for (bool ta : kBools)
      for (bool tb : kBools)
        for (const Flavour& f : flavours) {
          std::vector<float> first;
          std::string first_name;
          for (const GemmVariant& v : variants)
            for (bool in_place : kBools) {
              GemmTester t;
              const GemmConfig cfg = in_place ? unpacked(serial_default(v)) : packed(serial_default(v));
              const std::vector<float> got = f.apply(t.m(s.m).n(s.n).k(s.k).ta(ta).tb(tb)).Test(v, cfg);
              const std::string name = std::string(v.name) + (in_place ? " (A in place)" : " (A packed)");
              if (first.empty()) {
                first = got;
                first_name = name;
              } else {
                EXPECT_TRUE(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0)
                    << name << " differs from " << first_name << ": " << t.Describe();
              }
              if (HasFailure()) return;
            }
        }
}

// A single contiguous column (n == 1, ldc == 1) runs as the row Cᵀ on a
// one-row tile: right against the model, and bitwise equal to what the
// tile-based path gives the same column (the same FMA chains), with every
// epilogue; with a padded C (ldc > 1) it stays a column.
TEST_P(GemmIsaTest, SingleColumnIsTheTransposedRow) {
  const int64_t ms[] = {2, 7, 64, 97};
  const int64_t ks[] = {1, 13, 784};
  for (bool ta : kBools)
    for (bool tb : kBools) {
      SCOPED_TRACE(trans_trace(ta, tb));
      for (int64_t m : ms)
        for (int64_t k : ks)
          for (const Flavour& f : kEpilogues) {
            GemmTester t;
            CheckDispatch(f.apply(t.m(m).n(1).k(k).ta(ta).tb(tb)));
            GemmTester padded;
            CheckDispatch(f.apply(padded.m(m).n(1).k(k).ta(ta).tb(tb).pad(true)));
            if (HasFailure()) return;
          }
      GemmTester t;
      CheckDispatch(t.m(33).n(1).k(50).ta(ta).tb(tb).alpha(-0.5f).beta(1.5f).bias(kPerRow).act(kTanh));
    }
}

// A fixed tile (auto_tile = false) set with set_gemm_config: gemm() runs
// exactly that variant.
TEST_P(GemmIsaTest, FixedTileDispatch) {
  GemmConfigGuard restore_config;
  for (const GemmVariant& v : nabla::kernels::detail::gemm_variants(isa())) {
    SCOPED_TRACE(v.name);
    GemmConfig cfg = nabla::default_gemm_config(isa());
    cfg.auto_tile = false;
    cfg.mr = v.mr;
    cfg.nr = v.nr;
    cfg.mc = std::max<int64_t>(v.mr, cfg.mc / v.mr * v.mr);
    cfg.nc = std::max<int64_t>(v.nr, cfg.nc / v.nr * v.nr);
    ASSERT_NO_THROW(nabla::set_gemm_config(isa(), cfg));
    for (bool ta : kBools)
      for (bool tb : kBools) {
        CheckDispatch(GemmTester().m(2 * v.mr + 3).n(2 * v.nr + 5).k(23).ta(ta).tb(tb).pad(true).beta(1.f));
        CheckDispatch(GemmTester().m(v.mr - 1 > 0 ? v.mr - 1 : 1).n(v.nr + 1).k(9).ta(ta).tb(tb).bias(kPerCol));
      }
    if (HasFailure()) return;
  }
}

// The default configuration at 1, 2 and 3 threads, then the parallel path
// forced (parallel_flops = 0): all bitwise equal.
TEST_P(GemmIsaTest, ThreadCountsBitwise) {
  const std::vector<int> counts = {1, 2, 3};
  const GemmConfig forced = parallel(nabla::gemm_config(isa()));
  auto check = [&](GemmTester t) {
    SCOPED_TRACE(t.Describe());
    const std::vector<float> by_default = t.threads(counts).TestPublic();
    const GemmVariant& v = dispatched_variant(t);
    const std::vector<float> by_forced = t.verify(false).Test(v, forced);
    EXPECT_TRUE(by_default.size() == by_forced.size() &&
                std::memcmp(by_default.data(), by_forced.data(), by_default.size() * sizeof(float)) == 0)
        << "the forced-parallel run of " << v.name << " differs bitwise from the default one";
  };
  // A Dense layer's forward, X·Wᵀ + b then ReLU; big enough to go parallel.
  check(GemmTester().m(300).n(500).k(600).tb(true).bias(kPerCol).act(kReLU));
  // Thin problems, serial by default: a backward with a derivative, and a
  // short-and-wide one split only in n.
  check(GemmTester().m(64).n(10).k(128).ta(true).deriv(kTanh).pad(true));
  check(GemmTester().m(6).n(3000).k(25).beta(1.f).bias(kPerRow).act(kSigmoid));
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, GemmIsaTest,
                         ::testing::Values(IsaParam{Isa::Generic}, IsaParam{Isa::Avx2}, IsaParam{Isa::Avx512}),
                         [](const ::testing::TestParamInfo<IsaParam>& p) {
                           return std::string(nabla::isa_name(p.param.isa));
                         });

// =========================================================================
// Arguments.
// =========================================================================

// One call with one thing wrong: it throws nabla::Error whose message names
// the bad value.
struct BadCall {
  const char* what;
  const char* message_names;
  std::function<void()> call;
};

TEST(GemmArguments, EachBadArgumentThrows) {
  using nabla::kernels::gemm;
  constexpr Trans N = Trans::No, T = Trans::Yes;
  // A good call: m = 2, n = 3, k = 4, tight leading dimensions.
  std::vector<float> a(64, 1.f), b(64, 1.f), c(64, 0.f), bias(8, 1.f), d(64, 0.5f);
  float *pa = a.data(), *pb = b.data(), *pc = c.data();
  ASSERT_NO_THROW(gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3));
  ASSERT_NO_THROW(gemm(T, T, 2, 3, 4, 1.f, pa, 2, pb, 4, 0.f, pc, 3));

  const BadCall cases[] = {
      {"negative m", "m=-1", [&] { gemm(N, N, -1, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3); }},
      {"negative n", "n=-2", [&] { gemm(N, N, 2, -2, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3); }},
      {"negative k", "k=-3", [&] { gemm(N, N, 2, 3, -3, 1.f, pa, 4, pb, 3, 0.f, pc, 3); }},
      {"lda < k (ta=No)", "lda=3", [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 3, pb, 3, 0.f, pc, 3); }},
      {"lda < m (ta=Yes)", "lda=1", [&] { gemm(T, N, 2, 3, 4, 1.f, pa, 1, pb, 3, 0.f, pc, 3); }},
      {"ldb < n (tb=No)", "ldb=2", [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 2, 0.f, pc, 3); }},
      {"ldb < k (tb=Yes)", "ldb=3", [&] { gemm(N, T, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3); }},
      {"ldc < n", "ldc=2", [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 2); }},
      {"lda = 0 with k = 0", "lda=0", [&] { gemm(N, N, 2, 3, 0, 1.f, pa, 0, pb, 3, 0.f, pc, 3); }},
      {"null A", "A is null", [&] { gemm(N, N, 2, 3, 4, 1.f, nullptr, 4, pb, 3, 0.f, pc, 3); }},
      {"null B", "B is null", [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, nullptr, 3, 0.f, pc, 3); }},
      {"null C", "C is null", [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, nullptr, 3); }},
      {"null A with alpha = 0", "A is null", [&] { gemm(N, N, 2, 3, 4, 0.f, nullptr, 4, pb, 3, 0.f, pc, 3); }},
      {"per-row bias kind, null bias", "bias",
       [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3, Epilogue::bias_act(kPerRow, nullptr)); }},
      {"per-col bias kind, null bias", "bias",
       [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3, Epilogue::bias_act(kPerCol, nullptr, kReLU)); }},
      {"derivative, null D", "null D",
       [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3, Epilogue::derivative(kTanh, nullptr, 3)); }},
      {"derivative, ldd < n", "ldd=2",
       [&] { gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3, Epilogue::derivative(kSigmoid, d.data(), 2)); }},
      {"activation and derivative both", "relu",
       [&] {
         Epilogue ep = Epilogue::derivative(kSigmoid, d.data(), 3);
         ep.act = kReLU;
         gemm(N, N, 2, 3, 4, 1.f, pa, 4, pb, 3, 0.f, pc, 3, ep);
       }},
  };
  for (const BadCall& bc : cases) {
    SCOPED_TRACE(bc.what);
    try {
      bc.call();
      ADD_FAILURE() << bc.what << ": did not throw";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(bc.message_names), std::string::npos)
          << bc.what << ": the message \"" << e.what() << "\" does not name \"" << bc.message_names << "\"";
    } catch (const std::exception& e) {
      ADD_FAILURE() << bc.what << ": threw something other than nabla::Error: " << e.what();
    }
  }
}

// A matrix with no elements may be null; nothing is read from it.
TEST(GemmArguments, ZeroSizesAcceptNullPointers) {
  using nabla::kernels::gemm;
  constexpr Trans N = Trans::No, T = Trans::Yes;
  std::vector<float> a(16, 1.f), b(16, 1.f), bias(4, 0.25f);
  EXPECT_NO_THROW(gemm(N, N, 0, 0, 0, 1.f, nullptr, 1, nullptr, 1, 0.f, nullptr, 1));
  // m == 0: A and C are empty (and so is the bias).
  EXPECT_NO_THROW(gemm(N, N, 0, 3, 4, 1.f, nullptr, 4, b.data(), 3, 0.f, nullptr, 3,
                       Epilogue::bias_act(kPerRow, nullptr)));
  EXPECT_NO_THROW(gemm(T, N, 0, 3, 4, 1.f, nullptr, 1, b.data(), 3, 0.f, nullptr, 3));
  // n == 0: B and C are empty (and so is D).
  EXPECT_NO_THROW(gemm(N, N, 2, 0, 4, 1.f, a.data(), 4, nullptr, 1, 0.f, nullptr, 1,
                       Epilogue::derivative(kReLU, nullptr, 0)));
  EXPECT_NO_THROW(gemm(N, T, 2, 0, 4, 1.f, a.data(), 4, nullptr, 4, 0.f, nullptr, 1));
  // k == 0: A and B are empty; C = beta·C, then the epilogue.
  std::vector<float> c = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  ASSERT_NO_THROW(gemm(N, N, 2, 3, 0, 1.f, nullptr, 1, nullptr, 3, -2.f, c.data(), 3,
                       Epilogue::bias_act(kPerCol, bias.data())));
  EXPECT_EQ(c, (std::vector<float>{-1.75f, -3.75f, -5.75f, -7.75f, -9.75f, -11.75f}));
  ASSERT_NO_THROW(gemm(T, T, 2, 3, 0, 1.f, nullptr, 2, nullptr, 1, 0.f, c.data(), 3));
  EXPECT_EQ(c, std::vector<float>(6, 0.f));
}

// m == 0 or n == 0 through the public gemm(): C is not touched.
TEST(GemmArguments, EmptyProductLeavesCUntouched) {
  using nabla::kernels::gemm;
  constexpr Trans N = Trans::No;
  std::vector<float> a(16, 1.f), b(16, 1.f), bias(4, 1.f), c(16, kNaN);
  c[0] = 7.f;
  const std::vector<float> c0 = c;
  gemm(N, N, 0, 4, 4, 1.f, a.data(), 4, b.data(), 4, 0.f, c.data(), 4, Epilogue::bias_act(kPerCol, bias.data()));
  gemm(N, N, 4, 0, 4, 1.f, a.data(), 4, b.data(), 1, 0.f, c.data(), 1, Epilogue::bias_act(kPerRow, bias.data()));
  EXPECT_EQ(std::memcmp(c.data(), c0.data(), c.size() * sizeof(float)), 0);
}

}  // namespace
