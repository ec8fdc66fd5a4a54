// Convolution: forward, backward-data, backward-weights and the bias
// gradient against a float64 direct convolution on random shapes, for every
// ISA the CPU has; im2col against its definition and col2im as its adjoint;
// gradients against central finite differences; bitwise equality for 1, 2
// and 3 threads; invalid shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "activation_test_util.hpp"

#include "eltwise_test_util.hpp"
#include "nabla/error.hpp"
#include "kernels/conv/conv_internal.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/kernels/pool.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/threads.hpp"

namespace nk = nabla::kernels;
using nabla::test::bitwise_equal;
using nabla::test::for_each_isa;
using nabla::test::for_each_thread_count;
using nabla::test::uniform;
using nk::Activation;
using nk::ConvParams;
using nk::ConvShape;
using Variant = nk::detail::ConvVariant;

namespace {

const std::vector<Activation> kActs = nabla::test::all_activations();

std::string str(const ConvParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "N=" + s(p.n) + " C_in=" + s(p.c_in) + " " + s(p.h) + "x" + s(p.w) + " C_out=" + s(p.c_out) + " k=" +
         s(p.kh) + "x" + s(p.kw) + " stride=" + s(p.stride_h) + "x" + s(p.stride_w) + " pad=" + s(p.pad_h) + "x" +
         s(p.pad_w) + " dil=" + s(p.dil_h) + "x" + s(p.dil_w);
}

// Terms of the direct convolution: the cost of the float64 reference.
double terms(const ConvShape& s) {
  return static_cast<double>(s.params().n) * static_cast<double>(s.weights_size()) *
         static_cast<double>(s.col_cols());
}

// A random geometry from the grid: C_in ∈ {1, 3, 8, 17}, C_out ∈
// {1, 6, 16, 33}, kernels 1, 2, 3, 5, 7 (square half the time), stride 1–3,
// padding 0–3, dilation 1–2, odd and non-square images, batch 1 or 5. The
// image is shrunk until the reference stays cheap.
ConvParams random_params(std::mt19937& rng) {
  auto pick = [&](std::initializer_list<int64_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  auto in = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  ConvParams p;
  p.n = pick({1, 5});
  p.c_in = pick({1, 3, 8, 17});
  p.c_out = pick({1, 6, 16, 33});
  p.kh = pick({1, 2, 3, 5, 7});
  p.kw = in(0, 1) ? p.kh : pick({1, 2, 3, 5, 7});
  p.stride_h = in(1, 3);
  p.stride_w = in(0, 1) ? p.stride_h : in(1, 3);
  p.pad_h = in(0, 3);
  p.pad_w = in(0, 1) ? p.pad_h : in(0, 3);
  p.dil_h = in(1, 2);
  p.dil_w = in(1, 2);
  const int64_t span_h = p.dil_h * (p.kh - 1) + 1, span_w = p.dil_w * (p.kw - 1) + 1;
  p.h = std::max<int64_t>(1, span_h - 2 * p.pad_h) + in(0, 14);
  p.w = std::max<int64_t>(1, span_w - 2 * p.pad_w) + in(0, 14);
  while (terms(ConvShape(p)) > 3e6 && (p.h > 1 || p.w > 1)) {
    ConvParams q = p;
    q.h = std::max<int64_t>(std::max<int64_t>(1, span_h - 2 * p.pad_h), p.h - 2);
    q.w = std::max<int64_t>(std::max<int64_t>(1, span_w - 2 * p.pad_w), p.w - 2);
    if (q.h == p.h && q.w == p.w) break;
    p = q;
  }
  return p;
}

std::vector<float> abs_of(const std::vector<float>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = std::fabs(v[i]);
  return r;
}

// What an activation's output can be: the stored src of the fused derivative.
std::vector<float> activation_outputs(Activation f, int64_t n, uint32_t seed) {
  return nabla::test::activation_outputs(f, n, seed);
}

// |got − ref| <= (reduction + 4)·2⁻²³·bound + 1e-6·|ref| + 1e-7, where
// bound = Σ |terms| (the reference run on absolute values) bounds the
// rounding error of any order of float summation of `reduction` terms.
void expect_close(const char* what, const std::vector<float>& got, const std::vector<float>& ref,
                  const std::vector<float>& bound, int64_t reduction, const std::string& where) {
  ASSERT_EQ(got.size(), ref.size());
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = (reduction + 4) * 0x1p-23 * bound[i] + 1e-6 * std::fabs(ref[i]) + 1e-7;
    if (!(std::fabs(got[i] - ref[i]) <= tol) && bad++ < 3)
      ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", reference " << ref[i] << " (tolerance " << tol
                    << ") " << where;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements off, " << where;
}

// One geometry with its data, the float64 results and their error bounds.
struct Problem {
  ConvShape s;
  Activation act, src_act;
  bool use_bias, accumulate;
  std::vector<float> src, weights, bias, diff_dst, act_src, dw0, db0;
  std::vector<float> fwd, dx, dw, db;              // references
  std::vector<float> fwd_bound, dx_bound, dw_bound, db_bound;

  Problem(const ConvParams& p, Activation act_, Activation src_act_, bool use_bias_, bool accumulate_,
          uint32_t seed)
      : s(p), act(act_), src_act(src_act_), use_bias(use_bias_), accumulate(accumulate_) {
    const int64_t n_src = p.n * s.src_image(), n_dst = p.n * s.dst_image();
    src = uniform(n_src, -1.f, 1.f, seed);
    weights = uniform(s.weights_size(), -1.f, 1.f, seed + 1);
    bias = uniform(p.c_out, -1.f, 1.f, seed + 2);
    diff_dst = uniform(n_dst, -1.f, 1.f, seed + 3);
    act_src = activation_outputs(src_act, n_src, seed + 4);
    dw0 = accumulate ? uniform(s.weights_size(), -1.f, 1.f, seed + 5) : std::vector<float>(s.weights_size());
    db0 = accumulate ? uniform(p.c_out, -1.f, 1.f, seed + 6) : std::vector<float>(p.c_out);
    const float* b = use_bias ? bias.data() : nullptr;

    fwd.resize(n_dst);
    fwd_bound.resize(n_dst);
    nk::conv2d_forward_reference(s, src.data(), weights.data(), b, act, fwd.data());
    const auto abs_bias = abs_of(bias);
    nk::conv2d_forward_reference(s, abs_of(src).data(), abs_of(weights).data(),
                                 use_bias ? abs_bias.data() : nullptr, Activation::None, fwd_bound.data());

    dx.resize(n_src);
    dx_bound.resize(n_src);
    nk::conv2d_backward_data_reference(s, diff_dst.data(), weights.data(), dx.data(), src_act, act_src.data());
    nk::conv2d_backward_data_reference(s, abs_of(diff_dst).data(), abs_of(weights).data(), dx_bound.data());

    dw = dw0;
    db = db0;
    dw_bound = abs_of(dw0);
    db_bound = abs_of(db0);
    nk::conv2d_backward_weights_reference(s, src.data(), diff_dst.data(), dw.data(), db.data(), accumulate);
    nk::conv2d_backward_weights_reference(s, abs_of(src).data(), abs_of(diff_dst).data(), dw_bound.data(),
                                          db_bound.data(), accumulate);
  }

  // Each pass through the public function (v null) or one variant.
  std::vector<float> run_forward(const Variant* v = nullptr) const {
    std::vector<float> y(fwd.size(), std::numeric_limits<float>::quiet_NaN());
    const float* b = use_bias ? bias.data() : nullptr;
    if (v) nk::detail::conv2d_forward_run(*v, s, src.data(), weights.data(), b, act, y.data());
    else nk::conv2d_forward(s, src.data(), weights.data(), b, act, y.data());
    return y;
  }
  std::vector<float> run_backward_data(const Variant* v = nullptr) const {
    std::vector<float> g(dx.size(), std::numeric_limits<float>::quiet_NaN());
    if (v) nk::detail::conv2d_backward_data_run(*v, s, diff_dst.data(), weights.data(), g.data(), src_act, act_src.data());
    else nk::conv2d_backward_data(s, diff_dst.data(), weights.data(), g.data(), src_act, act_src.data());
    return g;
  }
  // Weights then bias gradient, concatenated.
  std::vector<float> run_backward_weights(const Variant* v = nullptr) const {
    std::vector<float> w = dw0, b = db0;
    if (v) nk::detail::conv2d_backward_weights_run(*v, s, src.data(), diff_dst.data(), w.data(), b.data(), accumulate);
    else nk::conv2d_backward_weights(s, src.data(), diff_dst.data(), w.data(), b.data(), accumulate);
    w.insert(w.end(), b.begin(), b.end());
    return w;
  }

  std::string describe() const {
    return str(s.params()) + " act=" + nk::activation_name(act) + " src_act=" + nk::activation_name(src_act) +
           (use_bias ? " bias" : "") + (accumulate ? " accumulate" : "");
  }

  void check(const Variant* v = nullptr) const {
    const ConvParams& p = s.params();
    const std::string where = describe() + (v ? std::string(" variant ") + v->name : std::string());
    expect_close("forward", run_forward(v), fwd, fwd_bound, s.col_rows(), where);
    expect_close("diff_src", run_backward_data(v), dx, dx_bound, p.c_out * p.kh * p.kw, where);
    const std::vector<float> wb = run_backward_weights(v);
    const std::vector<float> w(wb.begin(), wb.end() - p.c_out), b(wb.end() - p.c_out, wb.end());
    expect_close("diff_weights", w, dw, dw_bound, p.n * s.col_cols(), where);
    expect_close("diff_bias", b, db, db_bound, p.n * s.col_cols(), where);
  }
};

Problem random_problem(std::mt19937& rng, uint32_t seed) {
  const ConvParams p = random_params(rng);
  std::uniform_int_distribution<int> a(0, 3), coin(0, 1);
  return Problem(p, kActs[a(rng)], kActs[a(rng)], coin(rng), coin(rng), seed);
}

// Lowers the GEMM's parallel thresholds (which the convolution also uses)
// so that small test shapes run the parallel paths.
struct ForceParallel {
  ForceParallel() {
    for (int i = 0; i <= static_cast<int>(nabla::cpu_info().best_isa); ++i) {
      const auto isa = static_cast<nabla::Isa>(i);
      nabla::GemmConfig c = nabla::gemm_config(isa);
      c.parallel_flops = 0;
      c.task_flops = 1e4;
      nabla::set_gemm_config(isa, c);
    }
  }
  ~ForceParallel() { nabla::reset_gemm_config(); }
};

TEST(ConvShape, OutputSize) {
  // PyTorch's formula: floor((H + 2p − d(k − 1) − 1) / s) + 1.
  const ConvShape a({.n = 64, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5});
  EXPECT_EQ(a.oh(), 24);
  EXPECT_EQ(a.ow(), 24);
  EXPECT_EQ(a.col_rows(), 25);
  const ConvShape b({.c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1});
  EXPECT_EQ(b.oh(), 28);
  EXPECT_EQ(b.col_cols(), 784);
  const ConvShape c({.c_in = 3, .h = 11, .w = 9, .c_out = 2, .kh = 3, .kw = 2, .stride_h = 2, .stride_w = 3,
                     .pad_h = 1, .pad_w = 0, .dil_h = 2, .dil_w = 1});
  EXPECT_EQ(c.oh(), (11 + 2 - 2 * 2 - 1) / 2 + 1);
  EXPECT_EQ(c.ow(), (9 - 1 - 1) / 3 + 1);
  EXPECT_TRUE(ConvShape({.c_in = 4, .h = 5, .w = 5, .c_out = 2, .kh = 1, .kw = 1}).is_pointwise());
  EXPECT_FALSE(ConvShape({.c_in = 4, .h = 5, .w = 5, .c_out = 2, .kh = 1, .kw = 1, .stride_h = 2}).is_pointwise());
}

TEST(ConvShape, InvalidShapesThrow) {
  const ConvParams ok{.n = 2, .c_in = 3, .h = 8, .w = 7, .c_out = 4, .kh = 3, .kw = 3};
  EXPECT_NO_THROW(ConvShape{ok});
  struct Bad {
    ConvParams p;
    const char* message;  // a part of the message
  };
  const int64_t huge = int64_t{1} << 40;
  auto with = [&](auto edit) {
    ConvParams p = ok;
    edit(p);
    return p;
  };
  const Bad cases[] = {
      {with([](ConvParams& p) { p.n = 0; }), "N=0"},
      {with([](ConvParams& p) { p.c_in = -1; }), "C_in=-1"},
      {with([](ConvParams& p) { p.h = 0; }), "H=0"},
      {with([](ConvParams& p) { p.c_out = 0; }), "C_out=0"},
      {with([](ConvParams& p) { p.kw = 0; }), "kernel=3x0"},
      {with([](ConvParams& p) { p.stride_h = 0; }), "stride=0x1"},
      {with([](ConvParams& p) { p.dil_w = -2; }), "dilation=1x-2"},
      {with([](ConvParams& p) { p.pad_h = -1; }), "padding=-1x0"},
      {with([](ConvParams& p) { p.kh = 9; }), "dilated kernel (9x3) is larger than the padded input (8x7)"},
      {with([](ConvParams& p) { p.dil_w = 4; }), "dilated kernel (3x9) is larger than the padded input (8x7)"},
      {with([](ConvParams& p) { p.pad_w = std::numeric_limits<int64_t>::max() / 2; }), "overflows 64 bits"},
      {with([](ConvParams& p) { p.n = huge, p.h = huge; }), "input element count overflows"},
      {with([](ConvParams& p) { p.c_out = huge, p.w = huge; }), "output element count overflows"},
      {with([](ConvParams& p) { p.kh = 3, p.h = huge, p.pad_w = huge, p.kw = huge, p.c_in = huge / 4; }),
       "overflows"},
  };
  for (const Bad& b : cases) {
    try {
      ConvShape s(b.p);
      ADD_FAILURE() << "no throw for " << str(b.p);
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
    }
  }
}

TEST(Conv, NullPointersThrow) {
  const ConvShape s({.c_in = 2, .h = 5, .w = 5, .c_out = 3, .kh = 3, .kw = 3});
  std::vector<float> x(50), w(54), y(27), col(18 * 9);
  EXPECT_THROW(nk::conv2d_forward(s, nullptr, w.data(), nullptr, Activation::None, y.data()), nabla::Error);
  EXPECT_THROW(nk::conv2d_forward(s, x.data(), nullptr, nullptr, Activation::None, y.data()), nabla::Error);
  EXPECT_THROW(nk::conv2d_forward(s, x.data(), w.data(), nullptr, Activation::None, nullptr), nabla::Error);
  EXPECT_THROW(nk::conv2d_backward_data(s, y.data(), w.data(), nullptr), nabla::Error);
  EXPECT_THROW(nk::conv2d_backward_data(s, y.data(), w.data(), x.data(), Activation::ReLU, nullptr), nabla::Error);
  EXPECT_THROW(nk::conv2d_backward_weights(s, x.data(), nullptr, w.data(), nullptr), nabla::Error);
  EXPECT_THROW(nk::im2col(s, x.data(), nullptr), nabla::Error);
  EXPECT_THROW(nk::col2im(s, nullptr, x.data()), nabla::Error);
}

// im2col equals its definition exactly, and col2im is its adjoint:
// ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.
TEST(Conv, Im2colAndCol2imAdjoint) {
  std::mt19937 rng(7);
  for (int t = 0; t < 40; ++t) {
    ConvParams p = random_params(rng);
    p.n = 1;
    const ConvShape s(p);
    SCOPED_TRACE(str(p));
    const auto x = uniform(s.src_image(), -1.f, 1.f, t);
    const auto y = uniform(s.col_rows() * s.col_cols(), -1.f, 1.f, t + 100);
    std::vector<float> expect(y.size());
    for (int64_t c = 0; c < p.c_in; ++c)
      for (int64_t i = 0; i < p.kh; ++i)
        for (int64_t j = 0; j < p.kw; ++j)
          for (int64_t oy = 0; oy < s.oh(); ++oy)
            for (int64_t ox = 0; ox < s.ow(); ++ox) {
              const int64_t u = oy * p.stride_h + i * p.dil_h - p.pad_h, v = ox * p.stride_w + j * p.dil_w - p.pad_w;
              const bool inside = u >= 0 && u < p.h && v >= 0 && v < p.w;
              expect[(((c * p.kh + i) * p.kw + j) * s.oh() + oy) * s.ow() + ox] =
                  inside ? x[(c * p.h + u) * p.w + v] : 0.f;
            }
    for_each_isa([&](nabla::Isa) {
      std::vector<float> col(y.size(), std::numeric_limits<float>::quiet_NaN());
      nk::im2col(s, x.data(), col.data());
      EXPECT_TRUE(bitwise_equal(col, expect));
      std::vector<float> back(x.size(), std::numeric_limits<float>::quiet_NaN());
      nk::col2im(s, y.data(), back.data());
      double lhs = 0, rhs = 0, mag = 0;
      for (size_t e = 0; e < y.size(); ++e) lhs += double{col[e]} * y[e], mag += std::fabs(double{col[e]} * y[e]);
      for (size_t e = 0; e < x.size(); ++e) rhs += double{x[e]} * back[e];
      EXPECT_NEAR(lhs, rhs, 1e-6 * (mag + 1));
    });
  }
}

// The grid, sampled: every pass against the float64 reference, on
// every ISA.
TEST(Conv, RandomShapesAgainstReference) {
  std::mt19937 rng(2024);
  for (int t = 0; t < 120; ++t) {
    const Problem prob = random_problem(rng, 10 * t);
    for_each_isa([&](nabla::Isa) { prob.check(); });
  }
}

// The 1×1 path (no im2col), the C_in = 1 layers of the benchmarks, and
// kernels as large as the padded input.
TEST(Conv, SpecialShapesAgainstReference) {
  const ConvParams shapes[] = {
      {.n = 5, .c_in = 17, .h = 9, .w = 7, .c_out = 33, .kh = 1, .kw = 1},
      {.n = 3, .c_in = 8, .h = 1, .w = 13, .c_out = 6, .kh = 1, .kw = 1},
      {.n = 5, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5},
      {.n = 2, .c_in = 6, .h = 12, .w = 12, .c_out = 16, .kh = 5, .kw = 5},
      {.n = 2, .c_in = 3, .h = 4, .w = 3, .c_out = 6, .kh = 5, .kw = 7, .pad_h = 1, .pad_w = 2},
      {.n = 1, .c_in = 1, .h = 1, .w = 1, .c_out = 1, .kh = 1, .kw = 1},
      {.n = 1, .c_in = 3, .h = 2, .w = 2, .c_out = 5, .kh = 7, .kw = 7, .pad_h = 3, .pad_w = 3},
      // Backward-weights puts several images of a small map side by side in
      // one GEMM (kWeightGradDepth = 512 columns): batches of whole, partial
      // and uneven groups of them, 4×4 and 7×7 maps, stride 2, 1×1.
      {.n = 37, .c_in = 17, .h = 4, .w = 4, .c_out = 33, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
      {.n = 64, .c_in = 5, .h = 7, .w = 7, .c_out = 16, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
      {.n = 23, .c_in = 6, .h = 14, .w = 13, .c_out = 17, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
       .pad_h = 1, .pad_w = 1},
      {.n = 29, .c_in = 9, .h = 7, .w = 7, .c_out = 18, .kh = 1, .kw = 1, .stride_h = 2, .stride_w = 2},
      {.n = 19, .c_in = 7, .h = 5, .w = 6, .c_out = 15, .kh = 1, .kw = 1},
  };
  uint32_t seed = 500;
  for (const ConvParams& p : shapes)
    for (Activation f : {Activation::None, Activation::Sigmoid}) {
      const Problem prob(p, f, f == Activation::None ? Activation::ReLU : Activation::Tanh, true, false, seed++);
      for_each_isa([&](nabla::Isa) { prob.check(); });
    }
}

// 3×3 stride-1 shapes for the Winograd variant (see EveryVariantAgainstReference).
std::vector<ConvParams> winograd_shapes() {
  std::vector<ConvParams> v;
  int64_t c = 0;
  for (int64_t hw : {1, 2, 3, 5, 7, 13})
    for (int64_t pad : {0, 1, 2}) {
      if (hw + 2 * pad < 3) continue;
      ++c;
      v.push_back({.n = 1 + c % 3, .c_in = 1 + c % 5, .h = hw, .w = hw + (c % 2) * 2, .c_out = 1 + (3 * c) % 7,
                   .kh = 3, .kw = 3, .pad_h = pad, .pad_w = pad});
    }
  v.push_back({.n = 2, .c_in = 3, .h = 5, .w = 13, .c_out = 4, .kh = 3, .kw = 3, .pad_h = 0, .pad_w = 1});
  v.push_back({.n = 3, .c_in = 9, .h = 35, .w = 37, .c_out = 17, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1});
  v.push_back({.n = 5, .c_in = 4, .h = 28, .w = 28, .c_out = 18, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1});
  // backward-weights: 16 groups of images, each summed over several chunks
  v.push_back({.n = 40, .c_in = 2, .h = 28, .w = 26, .c_out = 3, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1});
  return v;
}

// Every variant of every ISA's list, on each test shape it applies to: the
// list drives the test, so a new variant is tested with no other change.
// The public functions run the first variant that applies (bitwise).
TEST(ConvVariants, EveryVariantAgainstReference) {
  std::mt19937 rng(77);
  std::vector<Problem> probs;
  for (int t = 0; t < 24; ++t) probs.push_back(random_problem(rng, 7000 + 10 * t));
  probs.emplace_back(ConvParams{.n = 3, .c_in = 17, .h = 9, .w = 7, .c_out = 33, .kh = 1, .kw = 1}, Activation::ReLU,
                     Activation::Sigmoid, true, true, 9001);
  probs.emplace_back(ConvParams{.n = 2, .c_in = 8, .h = 5, .w = 13, .c_out = 6, .kh = 1, .kw = 1}, Activation::None,
                     Activation::ReLU, false, false, 9002);
  // 49 and 35 output positions: the im2col forward puts several images
  // side by side (fewer than 64 positions), in chunks with a remainder
  probs.emplace_back(ConvParams{.n = 13, .c_in = 5, .h = 7, .w = 7, .c_out = 9, .kh = 3, .kw = 3, .pad_h = 1,
                                .pad_w = 1},
                     Activation::ReLU, Activation::Tanh, true, true, 9003);
  probs.emplace_back(ConvParams{.n = 17, .c_in = 3, .h = 11, .w = 14, .c_out = 4, .kh = 3, .kw = 2, .stride_h = 2,
                                .stride_w = 2},
                     Activation::Sigmoid, Activation::None, true, false, 9004);
  // One input channel (the direct path): channel counts around its blocks of
  // 6 and 2-3, kernels from 1×1 to as large as the padded input, rectangular
  // kernels and paddings, images from 1×1 to wider than a block of outputs.
  const ConvParams one_channel[] = {
      {.n = 3, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5, .pad_h = 2, .pad_w = 2},
      {.n = 2, .c_in = 1, .h = 28, .w = 28, .c_out = 32, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
      {.n = 2, .c_in = 1, .h = 13, .w = 17, .c_out = 7, .kh = 5, .kw = 3, .pad_h = 0, .pad_w = 1},
      {.n = 1, .c_in = 1, .h = 1, .w = 1, .c_out = 1, .kh = 1, .kw = 1},
      {.n = 2, .c_in = 1, .h = 5, .w = 5, .c_out = 13, .kh = 7, .kw = 7, .pad_h = 3, .pad_w = 3},
      {.n = 2, .c_in = 1, .h = 9, .w = 70, .c_out = 2, .kh = 2, .kw = 9, .pad_h = 1, .pad_w = 4},
      {.n = 1, .c_in = 1, .h = 3, .w = 40, .c_out = 5, .kh = 3, .kw = 1},
      // more images than weight-gradient groups: several images per group
      {.n = 40, .c_in = 1, .h = 12, .w = 11, .c_out = 5, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
  };
  uint32_t seed = 9100;
  for (const ConvParams& p : one_channel) {
    // with the bias (summed by the direct kernel itself), overwriting and accumulating
    probs.emplace_back(p, Activation::ReLU, Activation::None, true, (seed & 1) != 0, seed++);
    probs.emplace_back(p, Activation::Tanh, Activation::Sigmoid, false, true, seed++);
  }
  // Stride 1 (the implicit column matrix): output channels MR ± 1 and
  // past a tile, primes, full in-place panels and edge panels, one output
  // row, rectangular kernels and paddings (backward-data then pads dZ
  // differently along each axis).
  const ConvParams stride1[] = {
      {.n = 2, .c_in = 3, .h = 9, .w = 11, .c_out = 7, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
      {.n = 2, .c_in = 8, .h = 28, .w = 28, .c_out = 9, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
      {.n = 1, .c_in = 5, .h = 13, .w = 31, .c_out = 17, .kh = 3, .kw = 5, .pad_h = 2, .pad_w = 0},
      {.n = 2, .c_in = 19, .h = 14, .w = 29, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
      {.n = 3, .c_in = 2, .h = 1, .w = 17, .c_out = 13, .kh = 1, .kw = 3, .pad_w = 1},
      {.n = 1, .c_in = 4, .h = 23, .w = 19, .c_out = 1, .kh = 2, .kw = 2, .pad_h = 1, .pad_w = 0},
      // strides and dilations (phase-split planes)
      {.n = 2, .c_in = 5, .h = 28, .w = 28, .c_out = 9, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1,
       .pad_w = 1},
      {.n = 1, .c_in = 3, .h = 17, .w = 23, .c_out = 7, .kh = 3, .kw = 5, .stride_h = 3, .stride_w = 2, .pad_h = 2,
       .pad_w = 1},
      {.n = 2, .c_in = 6, .h = 15, .w = 17, .c_out = 17, .kh = 2, .kw = 3, .stride_h = 1, .stride_w = 3, .dil_h = 2,
       .dil_w = 2},
      {.n = 2, .c_in = 4, .h = 19, .w = 21, .c_out = 8, .kh = 3, .kw = 3, .pad_h = 2, .pad_w = 2, .dil_h = 2,
       .dil_w = 2},
      {.n = 1, .c_in = 2, .h = 9, .w = 21, .c_out = 3, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .dil_h = 2,
       .dil_w = 2},
      // stride 2 on rows long enough for whole vectors of pairs (phase_split)
      // and of one phase's outputs (phase_merge), plus their tails; odd and
      // even paddings
      {.n = 2, .c_in = 3, .h = 7, .w = 75, .c_out = 5, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1,
       .pad_w = 1},
      {.n = 1, .c_in = 2, .h = 6, .w = 64, .c_out = 4, .kh = 2, .kw = 4, .stride_h = 2, .stride_w = 2, .pad_h = 0,
       .pad_w = 2},
      {.n = 1, .c_in = 2, .h = 5, .w = 33, .c_out = 3, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 2, .pad_h = 1,
       .pad_w = 0},
  };
  for (const ConvParams& p : stride1) {
    probs.emplace_back(p, Activation::ReLU, Activation::Tanh, true, true, seed++);
    probs.emplace_back(p, Activation::Sigmoid, Activation::None, false, false, seed++);
  }
  // 3×3 stride 1 (Winograd's 2×2 output tiles): odd and tiny images where
  // the last tiles are partial, paddings 0, 1, 2 (backward-data pads dZ by
  // 2 − pad), tile rows wider than a vector, several image groups.
  for (const ConvParams& p : winograd_shapes()) {
    probs.emplace_back(p, Activation::ReLU, Activation::ReLU, true, true, seed++);
    probs.emplace_back(p, Activation::Tanh, Activation::Sigmoid, false, false, seed++);
  }
  for_each_isa([&](nabla::Isa isa) {
    const auto variants = nk::detail::conv_variants(isa);
    ASSERT_FALSE(variants.empty());
    EXPECT_TRUE(variants.back().applies(probs.front().s)) << "the last variant must apply to every shape";
    for (const Variant& v : variants) {
      SCOPED_TRACE(v.name);
      EXPECT_EQ(v.isa, isa);
      int applied = 0;
      for (const Problem& prob : probs) {
        if (!v.applies(prob.s)) continue;
        ++applied;
        prob.check(&v);
      }
      EXPECT_GT(applied, 0) << v.name << " applies to none of the test shapes";
    }
    for (const Problem& prob : probs) {
      using nk::detail::ConvPass;
      const Variant& f = nk::detail::conv_select(isa, prob.s, ConvPass::Forward);
      const Variant& d = nk::detail::conv_select(isa, prob.s, ConvPass::BackwardData);
      const Variant& w = nk::detail::conv_select(isa, prob.s, ConvPass::BackwardWeights);
      EXPECT_TRUE(f.applies(prob.s));
      EXPECT_TRUE(bitwise_equal(prob.run_forward(), prob.run_forward(&f))) << f.name;
      EXPECT_TRUE(bitwise_equal(prob.run_backward_data(), prob.run_backward_data(&d))) << d.name;
      EXPECT_TRUE(bitwise_equal(prob.run_backward_weights(), prob.run_backward_weights(&w))) << w.name;
    }
  });
}

TEST(ConvVariants, ShapeString) {
  EXPECT_EQ(nk::detail::conv_shape_string({.n = 64, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5,
                                           .pad_h = 2, .pad_w = 2}),
            "64x1x28x28,6x5x5,p2");
  EXPECT_EQ(nk::detail::conv_shape_string({.n = 1, .c_in = 3, .h = 9, .w = 8, .c_out = 4, .kh = 3, .kw = 1,
                                           .stride_h = 2, .stride_w = 1, .dil_h = 2, .dil_w = 2}),
            "1x3x9x8,4x3x1,s2x1,d2");
}

// Every pass is bitwise identical for 1, 2 and 3 threads, with the parallel
// paths forced on small shapes and at the default thresholds on a larger one.
TEST(Conv, ThreadCountsBitwise) {
  std::mt19937 rng(99);
  std::vector<Problem> probs;
  for (int t = 0; t < 6; ++t) probs.push_back(random_problem(rng, 1000 + t));
  probs.emplace_back(ConvParams{.n = 16, .c_in = 8, .h = 20, .w = 20, .c_out = 32, .kh = 3, .kw = 3, .pad_h = 1,
                                .pad_w = 1},
                     Activation::ReLU, Activation::ReLU, true, true, 77);
  probs.emplace_back(ConvParams{.n = 20, .c_in = 1, .h = 28, .w = 28, .c_out = 32, .kh = 3, .kw = 3, .pad_h = 1,
                                .pad_w = 1},
                     Activation::ReLU, Activation::None, true, false, 78);  // the direct one-channel path
  probs.emplace_back(ConvParams{.n = 37, .c_in = 17, .h = 4, .w = 4, .c_out = 33, .kh = 3, .kw = 3, .pad_h = 1,
                                .pad_w = 1},
                     Activation::ReLU, Activation::ReLU, true, true, 79);  // backward-weights' wide GEMMs
  for (bool force : {true, false}) {
    std::optional<ForceParallel> guard;
    if (force) guard.emplace();
    for (const Problem& prob : probs) {
      SCOPED_TRACE(prob.describe() + (force ? " (parallel forced)" : ""));
      std::vector<float> f1, d1, w1;
      for_each_thread_count([&](int t) {
        auto f = prob.run_forward(), d = prob.run_backward_data(), w = prob.run_backward_weights();
        if (t == 1) {
          f1 = f, d1 = d, w1 = w;
          return;
        }
        EXPECT_TRUE(bitwise_equal(f, f1));
        EXPECT_TRUE(bitwise_equal(d, d1));
        EXPECT_TRUE(bitwise_equal(w, w1));
      });
    }
  }
}

// Every variant, on the Winograd shapes and with the parallel paths forced:
// 1, 2 and 3 threads give bitwise the same results (the Winograd variant
// groups images by the shape alone).
TEST(ConvVariants, EveryVariantThreadCountsBitwise) {
  std::vector<Problem> probs;
  uint32_t seed = 12000;
  for (const ConvParams& p : winograd_shapes()) probs.emplace_back(p, Activation::ReLU, Activation::Tanh, true, true, seed++);
  probs.emplace_back(ConvParams{.n = 16, .c_in = 8, .h = 20, .w = 20, .c_out = 32, .kh = 3, .kw = 3, .pad_h = 1,
                                .pad_w = 1},
                     Activation::ReLU, Activation::ReLU, true, true, seed++);
  const ForceParallel guard;
  for (const Variant& v : nk::detail::conv_variants(nabla::cpu_info().best_isa))
    for (const Problem& prob : probs) {
      if (!v.applies(prob.s)) continue;
      SCOPED_TRACE(prob.describe() + " variant " + v.name);
      std::vector<float> f1, d1, w1;
      for_each_thread_count([&](int t) {
        auto f = prob.run_forward(&v), d = prob.run_backward_data(&v), w = prob.run_backward_weights(&v);
        if (t == 1) {
          f1 = f, d1 = d, w1 = w;
          return;
        }
        EXPECT_TRUE(bitwise_equal(f, f1));
        EXPECT_TRUE(bitwise_equal(d, d1));
        EXPECT_TRUE(bitwise_equal(w, w1));
      });
    }
}

// The convolution with a 2×2 stride-2 max pool: every variant of every ISA,
// fused (Winograd and the one-channel direct kernel on an even output) or
// not, gives bitwise the outputs and arg-max indices of the convolution
// followed by the pooling kernel, with ties (a constant image: every
// window's first position wins) and NaN (the first NaN wins), and the
// weight gradient from the pool's gradient bitwise that of the pool's
// scatter followed by the weight gradient; at 1, 2 and 3 threads.
TEST(ConvVariants, MaxPoolAfterConvolutionBitwise) {
  std::vector<ConvParams> shapes = winograd_shapes();
  shapes.push_back({.n = 3, .c_in = 32, .h = 14, .w = 14, .c_out = 33, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1});
  shapes.push_back({.n = 2, .c_in = 5, .h = 10, .w = 36, .c_out = 7, .kh = 3, .kw = 3});
  shapes.push_back({.n = 2, .c_in = 3, .h = 12, .w = 12, .c_out = 4, .kh = 5, .kw = 5});  // not Winograd
  // one input channel (the direct kernel pools two output rows of one or
  // two vectors): the CNN's and LeNet's first layers, rows of exactly one
  // and two AVX-512 vectors, of one AVX2 and SSE2 vector, too wide to fuse
  for (const ConvParams& p : std::initializer_list<ConvParams>{
           {.n = 3, .c_in = 1, .h = 28, .w = 28, .c_out = 32, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
           {.n = 2, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5, .pad_h = 2, .pad_w = 2},
           {.n = 2, .c_in = 1, .h = 12, .w = 16, .c_out = 7, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
           {.n = 1, .c_in = 1, .h = 10, .w = 34, .c_out = 5, .kh = 3, .kw = 3},
           {.n = 2, .c_in = 1, .h = 8, .w = 8, .c_out = 13, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
           {.n = 2, .c_in = 1, .h = 6, .w = 6, .c_out = 3, .kh = 3, .kw = 3},
           {.n = 1, .c_in = 1, .h = 6, .w = 38, .c_out = 2, .kh = 3, .kw = 3},
       })
    shapes.push_back(p);
  const ForceParallel guard;
  int checked = 0, fused = 0, fused_direct = 0, fused_grad = 0;
  uint32_t seed = 13000;
  for (const ConvParams& p : shapes) {
    const ConvShape s(p);
    if (s.oh() < 2 || s.ow() < 2) continue;
    const nk::MaxPool2d pool{.n = p.n, .c = p.c_out, .h = s.oh(), .w = s.ow(), .kernel = 2, .stride = 2};
    const int64_t pooled = p.n * p.c_out * pool.out_h() * pool.out_w();
    for (int kind = 0; kind < 3; ++kind) {  // random, constant (ties), random with a NaN
      auto src = uniform(p.n * s.src_image(), -1.f, 1.f, seed++);
      if (kind == 1) std::fill(src.begin(), src.end(), 0.25f);
      if (kind == 2) src[src.size() / 3] = std::numeric_limits<float>::quiet_NaN();
      const auto w = uniform(s.weights_size(), -1.f, 1.f, seed++), b = uniform(p.c_out, -1.f, 1.f, seed++);
      const Activation act = kind == 0 ? Activation::ReLU : kind == 1 ? Activation::None : Activation::Tanh;
      for_each_isa([&](nabla::Isa isa) {
          for (const Variant& v : nk::detail::conv_variants(isa)) {
            if (!v.applies(s)) continue;
            SCOPED_TRACE(std::string(v.name) + " kind " + std::to_string(kind) + " " +
                         nk::detail::conv_shape_string(p));
            std::vector<float> y(p.n * s.dst_image()), want(pooled), got;
            std::vector<int32_t> want_idx(pooled), got_idx;
            nk::detail::conv2d_forward_run(v, s, src.data(), w.data(), b.data(), act, y.data());
            nk::max_pool2d_forward(pool, y.data(), want.data(), want_idx.data());
            // backward-weights from the pool's gradient and arg-max, against
            // the pool's scatter then the weight gradient (bias, accumulate)
            const auto g = uniform(pooled, -1.f, 1.f, seed + 7);
            std::vector<float> dz(p.n * s.dst_image()), dw_want(s.weights_size(), 0.5f), db_want(p.c_out, 0.5f);
            nk::max_pool2d_backward(pool, g.data(), want_idx.data(), dz.data());
            const bool acc = kind == 1;
            float* no_bias = nullptr;
            nk::detail::conv2d_backward_weights_run(v, s, src.data(), dz.data(), dw_want.data(),
                                                    kind == 2 ? no_bias : db_want.data(), acc);
            for_each_thread_count([&](int) {
              got.assign(pooled, -7.f);
              got_idx.assign(pooled, -7);
              nk::detail::conv2d_forward_maxpool_run(v, s, src.data(), w.data(), b.data(), act, got.data(),
                                                     got_idx.data());
              EXPECT_TRUE(bitwise_equal(got, want));
              EXPECT_EQ(got_idx, want_idx);
              std::vector<float> dw(s.weights_size(), 0.5f), db(p.c_out, 0.5f);
              nk::detail::conv2d_backward_weights_run(v, s, src.data(), g.data(), dw.data(),
                                                      kind == 2 ? no_bias : db.data(), acc, want_idx.data());
              EXPECT_TRUE(bitwise_equal(dw, dw_want));
              EXPECT_TRUE(bitwise_equal(db, db_want));
            });
            fused_grad += nk::detail::fuses_maxpool_grad(v, s);
            ++checked;
            fused += nk::detail::fuses_maxpool(v, s);
            fused_direct += nk::detail::fuses_maxpool(v, s) && v.algo == nk::detail::ConvAlgo::Direct1;
          }
        });
    }
  }
  EXPECT_GT(fused_direct, 0);
  EXPECT_GT(fused_grad, 0);
  EXPECT_GT(fused, fused_direct);
  EXPECT_GT(checked, fused);
}

TEST(Conv, MaxPoolAfterConvolutionErrors) {
  const ConvShape s(ConvParams{.n = 1, .c_in = 1, .h = 3, .w = 3, .c_out = 1, .kh = 3, .kw = 3});  // 1×1 output
  float x[9] = {}, w[9] = {}, y[1];
  int32_t idx[1];
  EXPECT_THROW(nk::conv2d_forward_maxpool(s, x, w, nullptr, Activation::None, y, idx), nabla::Error);
  const ConvShape s2(ConvParams{.n = 1, .c_in = 1, .h = 4, .w = 4, .c_out = 1, .kh = 3, .kw = 3, .pad_h = 1,
                                .pad_w = 1});
  float x2[16] = {}, y2[4];
  int32_t idx2[4];
  EXPECT_THROW(nk::conv2d_forward_maxpool(s2, x2, w, nullptr, Activation::None, y2, nullptr), nabla::Error);
  EXPECT_NO_THROW(nk::conv2d_forward_maxpool(s2, x2, w, nullptr, Activation::None, y2, idx2));
}

// The forward error of every variant on the CNN's conv3 (32→64, 3×3 pad 1,
// 28×28), random data in [−1, 1], against the float64 reference: max |err|
// over max |ref| (the accuracy contract: 1e-5 relative), printed.
TEST(ConvVariants, Conv3ForwardError) {
  const ConvShape s(ConvParams{.n = 2, .c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1,
                               .pad_w = 1});
  const auto src = uniform(2 * s.src_image(), -1.f, 1.f, 31), w = uniform(s.weights_size(), -1.f, 1.f, 32),
             b = uniform(64, -1.f, 1.f, 33);
  std::vector<float> ref(2 * s.dst_image()), got(ref.size());
  nk::conv2d_forward_reference(s, src.data(), w.data(), b.data(), Activation::None, ref.data());
  double ref_max = 0;
  for (float r : ref) ref_max = std::max(ref_max, std::fabs(double(r)));
  for (const Variant& v : nk::detail::conv_variants(nabla::cpu_info().best_isa)) {
    if (!v.applies(s)) continue;
    nk::detail::conv2d_forward_run(v, s, src.data(), w.data(), b.data(), Activation::None, got.data());
    double err = 0, sq = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double e = std::fabs(double(got[i]) - double(ref[i]));
      err = std::max(err, e);
      sq += e * e;
    }
    std::printf("conv3 forward, %s: max |err| / max |ref| = %.2e, rms err / max |ref| = %.2e (max |ref| = %.2f)\n",
                v.name, err / ref_max, std::sqrt(sq / double(ref.size())) / ref_max, ref_max);
    EXPECT_LE(err / ref_max, 1e-5) << v.name;
  }
}

// The same for backward-weights (the Winograd variant sums the transformed
// products over the tiles and maps them back by Gᵀ dU G): max |err| over
// max |ref| of dW against the float64 reference, printed.
TEST(ConvVariants, Conv3BackwardWeightsError) {
  const ConvShape s(ConvParams{.n = 4, .c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1,
                               .pad_w = 1});
  const auto src = uniform(4 * s.src_image(), -1.f, 1.f, 41), dz = uniform(4 * s.dst_image(), -1.f, 1.f, 42);
  std::vector<float> ref(s.weights_size()), got(ref.size()), rb(64), gb(64);
  nk::conv2d_backward_weights_reference(s, src.data(), dz.data(), ref.data(), rb.data());
  double ref_max = 0;
  for (float r : ref) ref_max = std::max(ref_max, std::fabs(double(r)));
  for (const Variant& v : nk::detail::conv_variants(nabla::cpu_info().best_isa)) {
    if (!v.applies(s)) continue;
    nk::detail::conv2d_backward_weights_run(v, s, src.data(), dz.data(), got.data(), gb.data(), false);
    double err = 0;
    for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(double(got[i]) - double(ref[i])));
    std::printf("conv3 backward-weights, %s: max |err| / max |ref| = %.2e (max |ref| = %.2f)\n", v.name,
                err / ref_max, ref_max);
    EXPECT_LE(err / ref_max, 1e-5) << v.name;
  }
}

// Central finite differences of L = Σ g ⊙ tanh(conv(a, W) + b) with
// a = sigmoid(u) (the previous layer's activation, fused into
// backward-data): dL/du, dL/dW and dL/db against the kernels' gradients.
TEST(Conv, GradientsMatchFiniteDifferences) {
  const ConvParams shapes[] = {
      {.n = 2, .c_in = 2, .h = 5, .w = 6, .c_out = 3, .kh = 3, .kw = 2, .stride_h = 2, .pad_h = 1, .pad_w = 1},
      {.n = 1, .c_in = 3, .h = 7, .w = 5, .c_out = 2, .kh = 2, .kw = 3, .stride_w = 2, .dil_h = 2},
      {.n = 2, .c_in = 2, .h = 3, .w = 4, .c_out = 2, .kh = 1, .kw = 1},
  };
  for (const ConvParams& p : shapes) {
    const ConvShape s(p);
    SCOPED_TRACE(str(p));
    const int64_t n_src = p.n * s.src_image(), n_dst = p.n * s.dst_image();
    std::vector<float> u = uniform(n_src, -2.f, 2.f, 1), w = uniform(s.weights_size(), -1.f, 1.f, 2),
                       b = uniform(p.c_out, -0.5f, 0.5f, 3), g = uniform(n_dst, -1.f, 1.f, 4);
    auto sigmoid = [](const std::vector<float>& v) {
      std::vector<float> r(v.size());
      for (size_t i = 0; i < v.size(); ++i) r[i] = static_cast<float>(1 / (1 + std::exp(-double{v[i]})));
      return r;
    };
    auto loss = [&] {
      std::vector<float> y(n_dst);
      nk::conv2d_forward(s, sigmoid(u).data(), w.data(), b.data(), Activation::Tanh, y.data());
      double l = 0;
      for (int64_t i = 0; i < n_dst; ++i) l += double{g[i]} * y[i];
      return l;
    };
    // Analytic: dZ = g ⊙ (1 − y²), then the three gradients.
    std::vector<float> a = sigmoid(u), y(n_dst), dz(n_dst), du(n_src), dw(w.size()), db(b.size());
    nk::conv2d_forward(s, a.data(), w.data(), b.data(), Activation::Tanh, y.data());
    for (int64_t i = 0; i < n_dst; ++i) dz[i] = g[i] * (1 - y[i]) * (1 + y[i]);
    nk::conv2d_backward_data(s, dz.data(), w.data(), du.data(), Activation::Sigmoid, a.data());
    nk::conv2d_backward_weights(s, a.data(), dz.data(), dw.data(), db.data());

    auto check = [&](const char* what, std::vector<float>& param, const std::vector<float>& grad) {
      const float h = 1e-2f;
      for (size_t i = 0; i < param.size(); ++i) {
        const float saved = param[i];
        param[i] = saved + h;
        const double lp = loss();
        param[i] = saved - h;
        const double lm = loss();
        param[i] = saved;
        const double fd = (lp - lm) / (double{saved + h} - double{saved - h});
        EXPECT_NEAR(grad[i], fd, 2e-3 * (1 + std::fabs(fd))) << what << "[" << i << "]";
      }
    };
    check("dL/du", u, du);
    check("dL/dW", w, dw);
    check("dL/db", b, db);
  }
}

}  // namespace
