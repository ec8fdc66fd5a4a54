// `nabla prof` (see prof.hpp). One mechanism for every family: a family
// turns its variant list and shapes into ProfCases (run, check, flops,
// bytes); run_cases() checks and times them the same way; the model mode
// turns trace events into the same rows.
#include "prof.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "kernels/common/names.hpp"
#include "kernels/conv/conv_internal.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "model_spec.hpp"
#include "trainer.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/loss.hpp"
#include "nabla/kernels/optim.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/runtime/config.hpp"
#include "nabla/runtime/file.hpp"
#include "nabla/runtime/measure.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/runtime/trace.hpp"

namespace nabla::cli {
namespace {

namespace nk = nabla::kernels;
namespace nkd = nabla::kernels::detail;
using Buf = std::shared_ptr<std::vector<float>>;

constexpr int64_t kMaxElements = int64_t{1} << 28;  // per buffer: 1 GiB

Buf make_buf(int64_t n) { return std::make_shared<std::vector<float>>(static_cast<size_t>(n)); }

// Whole numbers in [-1, 1]: every sum of products of them is exact in float
// below 2^24 terms, so a right GEMM or convolution matches the reference
// bitwise, whatever its summation order.
Buf ints(int64_t n, uint32_t seed) {
  Buf b = make_buf(n);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-1, 1);
  for (float& x : *b) x = static_cast<float>(d(rng));
  return b;
}

Buf uniform(int64_t n, float lo, float hi, uint32_t seed) {
  Buf b = make_buf(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& x : *b) x = d(rng);
  return b;
}

// "" when got matches ref within |got − ref| <= rel·|ref| + abs, else the
// first mismatch and how many there are.
std::string compare(const float* got, const float* ref, int64_t n, double rel, double abs) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got[i], r = ref[i];
    const bool same = (std::isnan(g) && std::isnan(r)) || std::fabs(g - r) <= rel * std::fabs(r) + abs;
    if (!same && bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld of %lld values differ from the reference (first [%lld] = %g, expected %g)",
                static_cast<long long>(bad), static_cast<long long>(n), static_cast<long long>(first),
                static_cast<double>(got[first]), static_cast<double>(ref[first]));
  return buf;
}

int64_t parse_int(const std::string& text, const std::string& what, const std::string& whole) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || v < 0)
    throw Error("prof: bad " + what + " '" + text + "' in shape '" + whole + "'");
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

void check_elements(std::initializer_list<int64_t> factors, const std::string& shape) {
  int64_t r = 1;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(r, f, &r) || r > kMaxElements)
      throw Error("prof: shape '" + shape + "' needs a buffer of more than 2^28 floats");
}

// ---- GEMM -------------------------------------------------------------------

const char* kGemmSyntax = "MxNxK[:nn|nt|tn|tt], e.g. 64x256x784:nt";

// The training shapes of bench/bench_gemm.cpp (the 1024-2048 squares left out).
const char* kGemmDefaults[] = {"64x256x784:nt", "64x128x256:nt", "64x10x128:nt", "64x256x784", "64x128x256",
                               "64x10x128",     "256x784x64:tn", "64x784x256",   "6x36864x25", "16x4096x150",
                               "64x50176x288"};

std::string gemm_shape_string(const GemmShape& s) {
  std::string out = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
  if (s.ta || s.tb) out += std::string(":") + (s.ta ? "t" : "n") + (s.tb ? "t" : "n");
  return out;
}

struct GemmData {
  GemmShape s;
  int64_t lda = 0, ldb = 0, ldc = 0;
  Buf a, b, c, ref;
  bool have_ref = false;
};

void gemm_cases(const std::string& text, const std::vector<Isa>& isas, std::vector<ProfCase>& out) {
  const GemmShape s = parse_gemm_shape(text);
  auto d = std::make_shared<GemmData>();
  d->s = s;
  check_elements({s.m, s.k}, text);
  check_elements({s.k, s.n}, text);
  check_elements({s.m, s.n}, text);
  d->lda = s.ta ? s.m : s.k;
  d->ldb = s.tb ? s.k : s.n;
  d->ldc = s.n;
  d->a = ints(s.m * s.k, 1);
  d->b = ints(s.k * s.n, 2);
  d->c = make_buf(s.m * s.n);
  nkd::GemmArgs g{s.ta, s.tb, s.m, s.n, s.k, 1.f, d->a->data(), d->lda, d->b->data(), d->ldb, 0.f,
                  d->c->data(), d->ldc, {}};
  const double fm = static_cast<double>(s.m), fn = static_cast<double>(s.n), fk = static_cast<double>(s.k);
  for (Isa isa : isas)
    for (const nkd::GemmVariant& v : nkd::gemm_variants(isa))
      for (const nkd::GemmPacking& pk : nkd::gemm_packings()) {
        GemmConfig cfg = gemm_config(isa);
        cfg.small_flops = pk.small_flops;
        // A packing applies when the driver really runs it for this shape
        // (an lda that is a multiple of 1024 floats packs A anyway).
        if (nkd::gemm_packs_a(cfg, g) != (pk.small_flops == 0)) continue;
        ProfCase c;
        c.variant = nkd::gemm_variant_name(v, pk);
        c.shape = gemm_shape_string(s);
        c.isa = isa;
        c.flops = 2 * fm * fn * fk;
        c.bytes = 4 * (fm * fk + fk * fn + fm * fn);
        c.out = std::span<float>(*d->c);
        c.prepare = [d] { std::fill(d->c->begin(), d->c->end(), std::numeric_limits<float>::quiet_NaN()); };
        c.run = [vp = &v, cfg, g] { nkd::gemm_run(*vp, cfg, g); };
        c.check = [d] {
          const GemmShape& s = d->s;
          if (!d->have_ref) {
            d->ref = make_buf(s.m * s.n);
            nk::gemm_reference(s.ta ? nk::Trans::Yes : nk::Trans::No, s.tb ? nk::Trans::Yes : nk::Trans::No, s.m, s.n,
                               s.k, 1.f, d->a->data(), d->lda, d->b->data(), d->ldb, 0.f, d->ref->data(), d->ldc);
            d->have_ref = true;
          }
          const bool exact = s.k < (int64_t{1} << 24);
          return compare(d->c->data(), d->ref->data(), s.m * s.n, exact ? 0 : 1e-5, exact ? 0 : 1e-3);
        };
        out.push_back(std::move(c));
      }
}

// ---- convolution ---------------------------------------------------------------

const char* kConvSyntax =
    "NxCxHxW,OxKHxKW[,sS|sSHxSW][,pP|pPHxPW][,dD|dDHxDW], e.g. 64x1x28x28,6x5x5,p2";

// The layers of bench/bench_conv.cpp, and a 1x1 one for the pointwise variant.
const char* kConvDefaults[] = {"64x1x28x28,6x5x5", "64x6x12x12,16x5x5", "64x32x28x28,64x3x3,p1",
                               "64x64x14x14,64x1x1"};

nk::ConvParams parse_conv_shape(const std::string& text) {
  const auto fail = [&] { throw Error("prof: bad conv shape '" + text + "' (expected " + kConvSyntax + ")"); };
  const auto parts = split(text, ',');
  if (parts.size() < 2) fail();
  const auto in = split(parts[0], 'x'), w = split(parts[1], 'x');
  if (in.size() != 4 || w.size() != 3) fail();
  nk::ConvParams p;
  p.n = parse_int(in[0], "batch", text);
  p.c_in = parse_int(in[1], "channel count", text);
  p.h = parse_int(in[2], "height", text);
  p.w = parse_int(in[3], "width", text);
  p.c_out = parse_int(w[0], "output channel count", text);
  p.kh = parse_int(w[1], "kernel height", text);
  p.kw = parse_int(w[2], "kernel width", text);
  for (size_t i = 2; i < parts.size(); ++i) {
    const std::string& opt = parts[i];
    if (opt.size() < 2) fail();
    const auto vals = split(opt.substr(1), 'x');
    if (vals.size() > 2) fail();
    const int64_t a = parse_int(vals[0], opt, text), b = vals.size() == 2 ? parse_int(vals[1], opt, text) : a;
    switch (opt[0]) {
      case 's': p.stride_h = a, p.stride_w = b; break;
      case 'p': p.pad_h = a, p.pad_w = b; break;
      case 'd': p.dil_h = a, p.dil_w = b; break;
      default: fail();
    }
  }
  return p;
}

struct ConvData {
  explicit ConvData(const nk::ConvParams& p) : s(p) {}
  nk::ConvShape s;
  Buf src, w, bias, dz, dst, dsrc, dw, db;
  Buf ref_dst, ref_dsrc, ref_dw, ref_db;
};

void conv_cases(const std::string& text, const std::vector<Isa>& isas, std::vector<ProfCase>& out) {
  const nk::ConvParams p = parse_conv_shape(text);
  auto d = std::make_shared<ConvData>(p);  // validates (nabla::Error naming the values)
  const nk::ConvShape& s = d->s;
  const int64_t n_src = p.n * s.src_image(), n_dst = p.n * s.dst_image();
  check_elements({p.n, s.src_image()}, text);
  check_elements({p.n, s.dst_image()}, text);
  check_elements({s.col_rows(), s.col_cols()}, text);
  d->src = ints(n_src, 1);
  d->w = ints(s.weights_size(), 2);
  d->bias = ints(p.c_out, 3);
  d->dz = ints(n_dst, 4);
  d->dst = make_buf(n_dst);
  d->dsrc = make_buf(n_src);
  d->dw = make_buf(s.weights_size());
  d->db = make_buf(p.c_out);
  const double flops = 2.0 * static_cast<double>(p.n) * static_cast<double>(p.c_out) *
                       static_cast<double>(s.col_rows()) * static_cast<double>(s.col_cols());
  const double f_src = 4.0 * static_cast<double>(n_src), f_dst = 4.0 * static_cast<double>(n_dst),
               f_w = 4.0 * static_cast<double>(s.weights_size());
  // Exact while every reduction has fewer than 2^24 terms of magnitude <= 1.
  const bool exact = static_cast<double>(p.n) * static_cast<double>(s.col_cols()) < 0x1p24 &&
                     static_cast<double>(s.col_rows()) * static_cast<double>(p.c_out) < 0x1p24;
  const double rel = exact ? 0 : 1e-5, abs = exact ? 0 : 1e-3;
  const std::string shape = nkd::conv_shape_string(p);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : isas)
    for (const nkd::ConvVariant& v : nkd::conv_variants(isa)) {
      if (!v.applies(s)) continue;
      auto add = [&](const char* pass, double bytes, Buf result, std::function<void()> prepare, std::function<void()> run,
                     std::function<std::string()> check) {
        ProfCase c;
        c.variant = v.name;
        c.pass = pass;
        c.shape = shape;
        c.isa = isa;
        c.flops = flops;
        c.bytes = bytes;
        c.out = std::span<float>(*result);
        c.prepare = std::move(prepare);
        c.run = std::move(run);
        c.check = std::move(check);
        out.push_back(std::move(c));
      };
      const nkd::ConvVariant* vp = &v;
      add("forward", f_src + f_w + f_dst, d->dst, [d, nan] { std::fill(d->dst->begin(), d->dst->end(), nan); },
          [d, vp] {
            nkd::conv2d_forward_run(*vp, d->s, d->src->data(), d->w->data(), d->bias->data(), nk::Activation::None,
                                    d->dst->data());
          },
          [d, rel, abs] {
            if (!d->ref_dst) {
              d->ref_dst = make_buf(static_cast<int64_t>(d->dst->size()));
              nk::conv2d_forward_reference(d->s, d->src->data(), d->w->data(), d->bias->data(), nk::Activation::None,
                                           d->ref_dst->data());
            }
            return compare(d->dst->data(), d->ref_dst->data(), static_cast<int64_t>(d->dst->size()), rel, abs);
          });
      add("backward-data", f_dst + f_w + f_src, d->dsrc,
          [d, nan] { std::fill(d->dsrc->begin(), d->dsrc->end(), nan); },
          [d, vp] {
            nkd::conv2d_backward_data_run(*vp, d->s, d->dz->data(), d->w->data(), d->dsrc->data(), nk::Activation::None,
                                          nullptr);
          },
          [d, rel, abs] {
            if (!d->ref_dsrc) {
              d->ref_dsrc = make_buf(static_cast<int64_t>(d->dsrc->size()));
              nk::conv2d_backward_data_reference(d->s, d->dz->data(), d->w->data(), d->ref_dsrc->data());
            }
            return compare(d->dsrc->data(), d->ref_dsrc->data(), static_cast<int64_t>(d->dsrc->size()), rel, abs);
          });
      add("backward-weights", f_src + f_dst + f_w, d->dw,
          [d, nan] {
            std::fill(d->dw->begin(), d->dw->end(), nan);
            std::fill(d->db->begin(), d->db->end(), nan);
          },
          [d, vp] {
            nkd::conv2d_backward_weights_run(*vp, d->s, d->src->data(), d->dz->data(), d->dw->data(), d->db->data(),
                                             false);
          },
          [d, rel, abs] {
            if (!d->ref_dw) {
              d->ref_dw = make_buf(static_cast<int64_t>(d->dw->size()));
              d->ref_db = make_buf(static_cast<int64_t>(d->db->size()));
              nk::conv2d_backward_weights_reference(d->s, d->src->data(), d->dz->data(), d->ref_dw->data(),
                                                    d->ref_db->data(), false);
            }
            std::string e = compare(d->dw->data(), d->ref_dw->data(), static_cast<int64_t>(d->dw->size()), rel, abs);
            if (e.empty())
              e = compare(d->db->data(), d->ref_db->data(), static_cast<int64_t>(d->db->size()), rel, abs);
            return e;
          });
    }
}

// ---- element-wise ----------------------------------------------------------------

// The sizes of bench/bench_eltwise.cpp.
const char* kEltwiseDefaults[] = {"16384", "221184", "1605632", "16777216"};

// One element-wise operation: each ISA's kernel table is one variant of it
// (reached through the public function with the ISA forced), named
// f32_<op>_<isa>. Adding an operation is one entry in eltwise_ops().
struct EltData {
  int64_t n = 0, rows = 0;  // rows of the [rows, 10] views (softmax, cross-entropy)
  Buf x, dy, t, labels, act_out[4], y, ref, p0, g, m0, v0, p, m, v;
  float loss = 0, ref_loss = 0;
};
constexpr int64_t kClasses = 10;

struct EltOp {
  std::string op;
  const char* pass;
  double flops, bytes;  // per element
  // run(d) writes d.y (or d.p / d.loss); ref(d) writes d.ref (and d.ref_loss).
  std::function<void(EltData&)> prepare, run, ref;
  bool loss = false;  // also compare the returned loss
};

std::vector<EltOp> eltwise_ops() {
  using nk::Activation;
  std::vector<EltOp> ops;
  auto i = [](Activation f) { return static_cast<size_t>(f); };
  for (Activation f : {Activation::ReLU, Activation::Sigmoid, Activation::Tanh}) {
    const double fw = f == Activation::ReLU ? 1 : 4, bw = f == Activation::ReLU ? 1 : 3;
    ops.push_back({nkd::activation_op(f, false, false), "forward", fw, 8, nullptr,
                   [f](EltData& d) {
                     nk::activation_forward(f, 1, 1, d.n, d.x->data(), nk::BiasKind::None, nullptr, d.y->data());
                   },
                   [f](EltData& d) {
                     nk::activation_forward_reference(f, 1, 1, d.n, d.x->data(), nk::BiasKind::None, nullptr,
                                                      d.ref->data());
                   }});
    ops.push_back({nkd::activation_op(f, false, true), "backward-data", bw, 12, nullptr,
                   [f, i](EltData& d) {
                     nk::activation_backward(f, d.n, d.act_out[i(f)]->data(), d.dy->data(), d.y->data());
                   },
                   [f, i](EltData& d) {
                     nk::activation_backward_reference(f, d.n, d.act_out[i(f)]->data(), d.dy->data(), d.ref->data());
                   }});
  }
  ops.push_back({"softmax", "forward", 5, 8, nullptr,
                 [](EltData& d) {
                   nk::softmax_forward(d.rows, kClasses, d.x->data(), nk::BiasKind::None, nullptr, d.y->data());
                 },
                 [](EltData& d) {
                   nk::softmax_forward_reference(d.rows, kClasses, d.x->data(), nk::BiasKind::None, nullptr,
                                                 d.ref->data());
                 }});
  ops.push_back({"softmax_ce", "loss", 6, 8, nullptr,
                 [](EltData& d) {
                   d.loss = nk::softmax_cross_entropy(d.rows, kClasses, d.x->data(), d.labels->data(), d.y->data());
                 },
                 [](EltData& d) {
                   d.ref_loss = nk::softmax_cross_entropy_reference(d.rows, kClasses, d.x->data(), d.labels->data(),
                                                                    d.ref->data());
                 },
                 true});
  ops.push_back({"bce_with_logits", "loss", 6, 12, nullptr,
                 [](EltData& d) { d.loss = nk::bce_with_logits(d.n, d.x->data(), d.t->data(), d.y->data()); },
                 [](EltData& d) { d.ref_loss = nk::bce_with_logits_reference(d.n, d.x->data(), d.t->data(), d.ref->data()); },
                 true});
  ops.push_back({"mse", "loss", 6, 12, nullptr,
                 [](EltData& d) { d.loss = nk::mse(d.n, d.x->data(), d.t->data(), d.y->data()); },
                 [](EltData& d) { d.ref_loss = nk::mse_reference(d.n, d.x->data(), d.t->data(), d.ref->data()); },
                 true});
  // Optimisers update in place: prepare() restores the state the reference starts from.
  const nk::SgdParams sgd{1e-3f, 0.9f, 1e-4f};
  ops.push_back({"sgd_momentum", "optimiser", 6, 20,
                 [](EltData& d) {
                   *d.y = *d.p0;
                   *d.m = *d.m0;
                 },
                 [sgd](EltData& d) { nk::sgd_update(d.n, d.y->data(), d.g->data(), d.m->data(), sgd, false); },
                 [sgd](EltData& d) {
                   *d.ref = *d.p0;
                   std::vector<float> buf = *d.m0;
                   nk::sgd_update_reference(d.n, d.ref->data(), d.g->data(), buf.data(), sgd, false);
                 }});
  ops.push_back({"adam", "optimiser", 12, 28,
                 [](EltData& d) {
                   *d.y = *d.p0;
                   *d.m = *d.m0;
                   *d.v = *d.v0;
                 },
                 [](EltData& d) { nk::adam_update(d.n, d.y->data(), d.g->data(), d.m->data(), d.v->data(), {}, 1); },
                 [](EltData& d) {
                   *d.ref = *d.p0;
                   std::vector<float> m = *d.m0, v = *d.v0;
                   nk::adam_update_reference(d.n, d.ref->data(), d.g->data(), m.data(), v.data(), {}, 1);
                 }});
  return ops;
}

void eltwise_cases(const std::string& text, const std::vector<Isa>& isas, std::vector<ProfCase>& out) {
  const int64_t n = parse_int(text, "element count", text);
  if (n < kClasses || n > kMaxElements)
    throw Error("prof: eltwise shape '" + text + "' must be an element count from 10 to 2^28");
  auto d = std::make_shared<EltData>();
  d->n = n;
  d->rows = n / kClasses;
  d->x = uniform(n, -5, 5, 1);
  d->dy = uniform(n, -1, 1, 2);
  d->t = uniform(n, 0, 1, 3);
  d->labels = make_buf(d->rows);
  for (int64_t r = 0; r < d->rows; ++r) (*d->labels)[static_cast<size_t>(r)] = static_cast<float>(r % kClasses);
  for (nk::Activation f : {nk::Activation::ReLU, nk::Activation::Sigmoid, nk::Activation::Tanh}) {
    d->act_out[static_cast<size_t>(f)] = make_buf(n);
    nk::activation_forward_reference(f, 1, 1, n, d->x->data(), nk::BiasKind::None, nullptr,
                                     d->act_out[static_cast<size_t>(f)]->data());
  }
  d->p0 = uniform(n, -1, 1, 4);
  d->g = uniform(n, -1, 1, 5);
  d->m0 = uniform(n, -1, 1, 6);
  d->v0 = uniform(n, 0, 1, 7);
  d->m = make_buf(n);
  d->v = make_buf(n);
  d->y = make_buf(n);
  d->ref = make_buf(n);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : isas)
    for (const EltOp& op : eltwise_ops()) {
      const bool two_d = op.op == "softmax" || op.op == "softmax_ce";
      const int64_t used = two_d ? d->rows * kClasses : n;
      ProfCase c;
      c.variant = nkd::variant_name(op.op, isa);
      c.pass = op.pass;
      c.shape = two_d ? std::to_string(d->rows) + "x" + std::to_string(kClasses) : std::to_string(n);
      c.isa = isa;
      c.flops = op.flops * static_cast<double>(used);
      c.bytes = op.bytes * static_cast<double>(used);
      c.out = std::span<float>(d->y->data(), static_cast<size_t>(used));
      c.prepare = [d, op, nan] {
        if (op.prepare) op.prepare(*d);
        else std::fill(d->y->begin(), d->y->end(), nan);
      };
      c.run = [d, run = op.run] { run(*d); };
      c.check = [d, op, used] {
        op.ref(*d);
        std::string e = compare(d->y->data(), d->ref->data(), used, 1e-5, 1e-6);
        if (e.empty() && op.loss && !(std::fabs(d->loss - d->ref_loss) <= 1e-5 * std::fabs(d->ref_loss) + 1e-6))
          e = "loss " + std::to_string(d->loss) + ", expected " + std::to_string(d->ref_loss);
        return e;
      };
      out.push_back(std::move(c));
    }
}

// ---- the family table: one entry per family -------------------------------------

struct Family {
  const char* name;
  const char* syntax;
  std::span<const char* const> defaults;
  void (*cases)(const std::string& shape, const std::vector<Isa>& isas, std::vector<ProfCase>& out);
};

const Family kFamilies[] = {
    {"gemm", kGemmSyntax, kGemmDefaults, &gemm_cases},
    {"conv", kConvSyntax, kConvDefaults, &conv_cases},
    {"eltwise", "N (elements, >= 10), e.g. 1605632", kEltwiseDefaults, &eltwise_cases},
};

const Family& find_family(const std::string& name) {
  for (const Family& f : kFamilies)
    if (name == f.name) return f;
  throw Error("prof: unknown family '" + name + "' (gemm, conv or eltwise; or --model SPEC)");
}

// ---- limits and the figures of a row ----------------------------------------------

struct Roof {
  double peak = 0;
  std::vector<BandwidthPoint> bw;
  int threads = 1;
};

Roof roof_for(const MachineLimits& l, int threads) {
  Roof r;
  r.threads = threads;
  if (threads <= 1) r.peak = l.peak_gflops_1;
  else if (threads >= l.threads) r.peak = l.peak_gflops_all;
  else r.peak = std::min(l.peak_gflops_1 * threads, l.peak_gflops_all > 0 ? l.peak_gflops_all : INFINITY);
  if (!(r.peak > 0)) r.peak = std::max(l.peak_gflops_1, l.peak_gflops_all);
  r.bw = threads <= 1 ? l.bandwidth_1 : l.bandwidth_all;
  if (r.bw.empty()) r.bw = threads <= 1 ? l.bandwidth_all : l.bandwidth_1;
  return r;
}

double roof_gbs(const BandwidthPoint& p) { return std::max(p.copy_gbs, p.triad_gbs); }

// The level a working set of `bytes` fits in with `threads` threads.
std::string level_for(double bytes, int threads) {
  const CpuInfo& c = cpu_info();
  const double t = std::max(1, threads);
  if (bytes <= static_cast<double>(c.l1d_bytes) * t) return "L1";
  if (bytes <= static_cast<double>(c.l2_bytes) * t) return "L2";
  if (c.l3_bytes > 0 && bytes <= static_cast<double>(c.l3_bytes)) return "L3";
  return "DRAM";
}

void fill_figures(ProfRow& row, const Roof& roof) {
  row.intensity = row.bytes > 0 ? row.flops / row.bytes : 0;
  row.bw_level = level_for(row.bytes, roof.threads);
  if (!row.ok || row.seconds <= 0) return;
  row.gflops = row.flops / row.seconds * 1e-9;
  row.gbs = row.bytes / row.seconds * 1e-9;
  row.peak_pct = roof.peak > 0 ? 100 * row.gflops / roof.peak : 0;
  const BandwidthPoint* p = nullptr;
  for (const auto& b : roof.bw)
    if (b.level == row.bw_level) p = &b;
  if (!p && !roof.bw.empty()) p = &roof.bw.back();
  row.bw_pct = p && roof_gbs(*p) > 0 ? 100 * row.gbs / roof_gbs(*p) : 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Checks each case once (a wrong one is never timed), then times it: a
// warm-up run, then runs until min_time has passed (3 to 1000 of them).
std::vector<ProfRow> run_cases(std::vector<ProfCase>& cases, const Roof& roof, double min_time) {
  std::vector<ProfRow> rows;
  const Isa saved = active_isa();
  for (ProfCase& c : cases) {
    set_isa(c.isa);
    ProfRow row;
    row.pass = c.pass;
    row.variant = c.variant;
    row.shape = c.shape;
    row.flops = c.flops;
    row.bytes = c.bytes;
    std::string err;
    try {
      if (c.prepare) c.prepare();
      c.run();
      err = c.check();
    } catch (const std::exception& e) {
      err = std::string("threw: ") + e.what();
    }
    if (!err.empty()) {
      row.ok = false;
      row.error = err;
    } else {
      c.run();  // warm-up
      std::vector<double> t;
      const double start = now();
      while (t.size() < 3 || (now() - start < min_time && t.size() < 1000)) {
        const double t0 = now();
        c.run();
        t.push_back(now() - t0);
      }
      row.seconds = median(t);
      row.best_seconds = *std::min_element(t.begin(), t.end());
    }
    fill_figures(row, roof);
    rows.push_back(std::move(row));
  }
  set_isa(saved);
  return rows;
}

std::vector<Isa> isas_for(const std::string& which) {
  if (which.empty()) return {active_isa()};
  if (which == "all") {
    std::vector<Isa> out;
    for (int i = static_cast<int>(cpu_info().best_isa); i >= 0; --i) out.push_back(static_cast<Isa>(i));
    return out;
  }
  const Isa isa = parse_isa(which);
  if (static_cast<int>(isa) > static_cast<int>(cpu_info().best_isa))
    throw Error(std::string("prof: this CPU cannot run ") + isa_name(isa) + " (best: " +
                isa_name(cpu_info().best_isa) + ")");
  return {isa};
}

// ---- model mode ---------------------------------------------------------------------

}  // namespace

TraceCollector::TraceCollector(bool nested) : nested_(nested) {}

void TraceCollector::record(trace::Event e) {
  const std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
}

std::vector<trace::Event> TraceCollector::take() {
  const std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(events_, {});
}

struct ModelStep::Impl {
  BuiltModel bm;
  std::string spec;
  Tensor x, target;
  nn::SoftmaxCrossEntropy ce;
  nn::BinaryCrossEntropy bce{true};
  std::unique_ptr<nn::Adam> opt;
};

ModelStep::ModelStep(const std::string& preset_or_spec, int64_t batch) : impl_(std::make_unique<Impl>()) {
  if (batch < 1 || batch > 65536) throw Error("--batch must be in [1, 65536], got " + std::to_string(batch));
  Impl& s = *impl_;
  const ModelSpec spec = parse_spec(resolve_model(preset_or_spec));
  s.spec = spec.to_string();
  const LayerKind first = spec.layers.front().kind;
  const bool images = first == LayerKind::Conv || first == LayerKind::MaxPool;
  const std::vector<int64_t> sample = images ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{784};
  const LayerSpec& last = spec.layers.back();
  const int64_t classes = last.kind == LayerKind::Dense && last.units == 1 ? 2 : last.units;
  s.bm = build_model(spec, sample, classes);
  std::vector<int64_t> xshape = {batch};
  xshape.insert(xshape.end(), sample.begin(), sample.end());
  s.x = Tensor::uniform(xshape, -1.f, 1.f, 1);
  s.bce = nn::BinaryCrossEntropy(!s.bm.ends_in_sigmoid);
  if (s.bm.outputs == 1) {
    s.target = Tensor({batch, 1});
    for (int64_t i = 0; i < batch; ++i) s.target.data()[i] = static_cast<float>(i % 2);
  } else {
    s.target = Tensor({batch});
    for (int64_t i = 0; i < batch; ++i) s.target.data()[i] = static_cast<float>(i % s.bm.outputs);
  }
  s.opt = std::make_unique<nn::Adam>(s.bm.model.parameters(), 1e-3f);
}

ModelStep::~ModelStep() = default;

const std::string& ModelStep::spec() const { return impl_->spec; }
nn::Sequential& ModelStep::model() { return impl_->bm.model; }

void ModelStep::operator()() {
  Impl& s = *impl_;
  s.bm.model.zero_grad();
  const Tensor y = s.bm.model.forward(s.x);
  Tensor g;
  {
    const trace::LayerScope scope(-1, [] { return std::string("loss"); }, trace::Pass::Loss);
    if (s.bm.outputs == 1) {
      s.bce.forward(y, s.target);
      g = s.bce.backward();
    } else {
      s.ce.forward(y, s.target);
      g = s.ce.backward();
    }
  }
  s.bm.model.backward(g);
  const trace::LayerScope scope(-1, [] { return std::string("optimiser"); }, trace::Pass::Optimiser);
  s.opt->step();
}

namespace {

void profile_model(const ProfOptions& o, ProfReport& r, const Roof& roof) {
  if (o.batch < 1 || o.batch > 65536) throw Error("prof: --batch must be in [1, 65536], got " + std::to_string(o.batch));
  if (!o.shapes.empty()) throw Error("prof: --shape applies to a family, not to --model");
  if (o.steps < 1) throw Error("prof: steps must be >= 1");
  ModelStep step(o.model, o.batch);
  r.model = step.spec();
  r.batch = o.batch;
  nn::Sequential& model = step.model();
  for (int i = 0; i < 2; ++i) step();  // warm-up: buffers sized, caches and threads warm
  std::vector<double> plain;
  for (int i = 0; i < o.steps; ++i) {
    const double t0 = now();
    step();
    plain.push_back(now() - t0);
  }
  r.step_seconds = median(plain);

  TraceCollector sink;
  std::vector<std::vector<trace::Event>> steps;
  std::vector<double> traced;
  {
    const TraceGuard guard(&sink);
    for (int i = 0; i < o.steps; ++i) {
      const double t0 = now();
      step();
      traced.push_back(now() - t0);
      steps.push_back(sink.take());
    }
  }
  r.traced_step_seconds = median(traced);
  // The same calls in the same order every step: row i is the median of
  // call i over the steps (the first step's calls if they ever differ).
  // The optimiser updates the parameters in named_parameters() order: its
  // calls are attributed to their layers ("0 Conv2D 1→6 5×5 (weight)").
  const auto named = model.named_parameters();
  size_t opt_call = 0;
  const std::vector<trace::Event>& base = steps.front();
  bool same = true;
  for (const auto& s : steps) same = same && s.size() == base.size();
  for (size_t i = 0; i < base.size(); ++i) {
    const trace::Event& e = base[i];
    ProfRow row;
    row.layer = e.layer;
    row.layer_name = e.layer_name;
    row.pass = trace::pass_name(e.pass);
    if (e.pass == trace::Pass::Optimiser && e.layer < 0 && opt_call < named.size()) {
      const std::string& name = named[opt_call++].first;  // "<layer>.<parameter>"
      const size_t dot = name.find('.');
      row.layer = std::stoll(name.substr(0, dot));
      row.layer_name = model.layer(row.layer).name() + " (" + name.substr(dot + 1) + ")";
    }
    row.variant = e.call.kernel;
    row.shape = e.call.shape;
    row.flops = e.call.flops;
    row.bytes = e.call.bytes;
    std::vector<double> t;
    for (const auto& s : steps)
      if (same && s[i].call.kernel == e.call.kernel) t.push_back(s[i].seconds);
    if (t.empty()) t.push_back(e.seconds);
    row.seconds = median(t);
    row.best_seconds = *std::min_element(t.begin(), t.end());
    row.share = r.traced_step_seconds > 0 ? row.seconds / r.traced_step_seconds : 0;
    fill_figures(row, roof);
    r.rows.push_back(std::move(row));
  }
}

// ---- text output ----------------------------------------------------------------------

size_t width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string format_time(double s) {
  if (s >= 1) return fmt("%.2f s", s);
  if (s >= 1e-3) return fmt("%.2f ms", s * 1e3);
  return fmt("%.1f us", s * 1e6);
}

std::string render(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> w(rows.front().size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], width(r[c]));
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      const std::string pad(w[c] - width(r[c]), ' ');
      line += right[c] ? pad + r[c] : r[c] + (c + 1 < r.size() ? pad : "");
      if (c + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string row_label(const ProfRow& r) {
  std::string s = r.variant;
  if (!r.pass.empty()) s += " " + r.pass;
  return s + " " + r.shape;
}

}  // namespace

GemmShape parse_gemm_shape(const std::string& text) {
  const auto fail = [&] { throw Error("prof: bad gemm shape '" + text + "' (expected " + kGemmSyntax + ")"); };
  GemmShape s;
  std::string dims = text;
  const size_t colon = text.find(':');
  if (colon != std::string::npos) {
    const std::string t = text.substr(colon + 1);
    if (t.size() != 2 || (t[0] != 'n' && t[0] != 't') || (t[1] != 'n' && t[1] != 't')) fail();
    s.ta = t[0] == 't';
    s.tb = t[1] == 't';
    dims = text.substr(0, colon);
  }
  const auto parts = split(dims, 'x');
  if (parts.size() != 3) fail();
  s.m = parse_int(parts[0], "M", text);
  s.n = parse_int(parts[1], "N", text);
  s.k = parse_int(parts[2], "K", text);
  if (s.m < 1 || s.n < 1 || s.k < 1) throw Error("prof: gemm shape '" + text + "' has a zero size");
  return s;
}

std::vector<ProfCase> prof_cases(const std::string& family, const std::vector<std::string>& shapes,
                                 const std::vector<Isa>& isas) {
  const Family& f = find_family(family);
  std::vector<ProfCase> cases;
  if (shapes.empty())
    for (const char* s : f.defaults) f.cases(s, isas, cases);
  for (const std::string& s : shapes) f.cases(s, isas, cases);
  return cases;
}

ProfReport profile(const ProfOptions& o) {
  if (o.family.empty() == o.model.empty())
    throw Error(o.model.empty() ? "prof: name a family (gemm, conv, eltwise) or give --model SPEC"
                                : "prof: give a family or --model, not both");
  if (o.threads < 0) throw Error("prof: --threads must be >= 0, got " + std::to_string(o.threads));
  if (!(o.min_time >= 0)) throw Error("prof: the minimum time must be >= 0");
  ProfReport r;
  r.mode = o.model.empty() ? "family" : "model";
  r.family = o.family;
  const std::vector<Isa> isas = isas_for(o.isa);
  r.isa = isas.front();
  std::vector<ProfCase> cases;
  if (r.mode == "family") cases = prof_cases(o.family, o.shapes, isas);  // bad shapes fail before anything runs

  const int saved_threads = num_threads();
  if (o.threads > 0) set_num_threads(o.threads);
  const Isa saved_isa = active_isa();
  struct Restore {
    int threads;
    Isa isa;
    ~Restore() {
      set_num_threads(threads);
      set_isa(isa);
    }
  } restore{saved_threads, saved_isa};
  r.threads = num_threads();
  set_isa(r.isa);

  if (o.limits) {
    r.limits = *o.limits;
    r.limits_source = "given";
  } else {
    const ProfileStatus st = profile_status(r.isa);
    if (st.profile) {
      r.limits = st.profile->limits;
      r.limits_source = "profile " + st.path;
    } else {
      const double t0 = now();
      r.limits = measure_limits(r.isa, r.threads, 1.5);
      r.limits_source = "measured now in " + fmt("%.1f", now() - t0) + " s; no profile: " + st.message;
    }
  }
  const Roof roof = roof_for(r.limits, r.threads);
  r.peak_gflops = roof.peak;

  if (r.mode == "family") {
    if (o.edit_cases) o.edit_cases(cases);
    r.rows = run_cases(cases, roof, o.min_time);
  } else {
    profile_model(o, r, roof);
  }
  return r;
}

std::string prof_table(const ProfReport& r) {
  std::string out;
  const Roof roof = roof_for(r.limits, r.threads);
  out += (r.mode == "model" ? "model: " + r.model + "  batch " + std::to_string(r.batch) : "family: " + r.family) +
         "  isa " + isa_name(r.isa) + "  threads " + std::to_string(r.threads) + "\n";
  out += "limits (" + r.limits_source + "): peak " + fmt("%.1f", roof.peak) + " GFLOP/s";
  for (const auto& b : roof.bw) out += ", " + b.level + " " + fmt("%.1f", roof_gbs(b)) + " GB/s";
  out += "\n";
  if (r.mode == "model") {
    double sum = 0;
    for (const auto& row : r.rows) sum += row.seconds;
    out += "step: " + format_time(r.step_seconds) + " (median; traced " + format_time(r.traced_step_seconds) +
           ", kernels " + fmt("%.0f", r.traced_step_seconds > 0 ? 100 * sum / r.traced_step_seconds : 0) +
           "% of it)\n";
  }
  out += "\n";
  std::vector<std::vector<std::string>> rows;
  const bool model = r.mode == "model";
  std::vector<std::string> head = {"#"};
  if (model) head.insert(head.end(), {"layer", "pass", "kernel"});
  else head.insert(head.end(), {"variant", "pass"});
  head.insert(head.end(), {"shape", "time", model ? "share" : "best", "GFLOP/s", "%peak", "GB/s", "%bw", "AI"});
  rows.push_back(head);
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfRow& w = r.rows[i];
    std::vector<std::string> row = {std::to_string(i + 1)};
    if (model) row.insert(row.end(), {w.layer >= 0 ? std::to_string(w.layer) + " " + w.layer_name : w.layer_name, w.pass, w.variant});
    else row.insert(row.end(), {w.variant, w.pass.empty() ? "-" : w.pass});
    row.push_back(w.shape);
    if (!w.ok) {
      row.insert(row.end(), {"WRONG", "", "", "", "", "", fmt("%.2f", w.intensity)});
    } else {
      row.push_back(format_time(w.seconds));
      row.push_back(model ? fmt("%.1f%%", 100 * w.share) : format_time(w.best_seconds));
      row.push_back(fmt("%.1f", w.gflops));
      row.push_back(fmt("%.0f%%", w.peak_pct));
      row.push_back(fmt("%.1f", w.gbs));
      row.push_back(fmt("%.0f%% ", w.bw_pct) + w.bw_level);
      row.push_back(fmt("%.2f", w.intensity));
    }
    rows.push_back(std::move(row));
  }
  std::vector<bool> right(head.size(), false);
  right[0] = true;
  for (size_t c = head.size() - 7; c < head.size(); ++c) right[c] = true;
  out += render(rows, right);
  for (size_t i = 0; i < r.rows.size(); ++i)
    if (!r.rows[i].ok) out += "#" + std::to_string(i + 1) + " " + r.rows[i].variant + " WRONG: " + r.rows[i].error + "\n";
  out += "\nAI: arithmetic intensity (flops per byte of compulsory traffic); %bw: of the copy/triad bandwidth of the\n"
         "level the working set fits in (with " + std::to_string(r.threads) + " thread" + (r.threads == 1 ? "" : "s") + ").\n";
  return out;
}

std::string prof_json(const ProfReport& r) {
  using J = nlohmann::ordered_json;
  J j;
  j["schema"] = "nabla-prof-1";
  j["mode"] = r.mode;
  if (r.mode == "model") {
    j["model"] = r.model;
    j["batch"] = r.batch;
  } else {
    j["family"] = r.family;
  }
  j["isa"] = isa_name(r.isa);
  j["threads"] = r.threads;
  const Roof roof = roof_for(r.limits, r.threads);
  J lim;
  lim["source"] = r.limits_source;
  lim["peak_gflops"] = roof.peak;
  lim["peak_gflops_1"] = r.limits.peak_gflops_1;
  lim["peak_gflops_all"] = r.limits.peak_gflops_all;
  lim["bandwidth"] = J::array();
  for (const auto& b : roof.bw)
    lim["bandwidth"].push_back({{"level", b.level}, {"bytes", b.bytes}, {"copy_gbs", b.copy_gbs}, {"triad_gbs", b.triad_gbs}});
  j["limits"] = lim;
  if (r.mode == "model") {
    j["step_seconds"] = r.step_seconds;
    j["traced_step_seconds"] = r.traced_step_seconds;
  }
  j["rows"] = J::array();
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfRow& w = r.rows[i];
    J row;
    row["index"] = i + 1;
    row["layer"] = w.layer;
    row["layer_name"] = w.layer_name;
    row["pass"] = w.pass;
    row["variant"] = w.variant;
    row["shape"] = w.shape;
    row["status"] = w.ok ? "ok" : "wrong";
    row["error"] = w.error;
    auto timed = [&](double v) { return w.ok ? J(v) : J(nullptr); };
    row["seconds"] = timed(w.seconds);
    row["best_seconds"] = timed(w.best_seconds);
    row["flops"] = w.flops;
    row["bytes"] = w.bytes;
    row["gflops"] = timed(w.gflops);
    row["peak_pct"] = timed(w.peak_pct);
    row["gbs"] = timed(w.gbs);
    row["bw_level"] = w.bw_level;
    row["bw_pct"] = timed(w.bw_pct);
    row["intensity"] = w.intensity;
    row["share"] = timed(w.share);
    j["rows"].push_back(std::move(row));
  }
  return j.dump(2) + "\n";
}

std::string prof_csv(const ProfReport& r) {
  std::string out =
      "index,layer,layer_name,pass,variant,shape,status,seconds,best_seconds,flops,bytes,gflops,peak_pct,gbs,"
      "bw_level,bw_pct,intensity,share\n";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfRow& w = r.rows[i];
    auto num = [&](double v) { return w.ok ? fmt("%.6g", v) : std::string(); };
    out += std::to_string(i + 1) + "," + std::to_string(w.layer) + "," + csv_field(w.layer_name) + "," +
           csv_field(w.pass) + "," + csv_field(w.variant) + "," + csv_field(w.shape) + "," + (w.ok ? "ok" : "wrong") +
           "," + num(w.seconds) + "," + num(w.best_seconds) + "," + fmt("%.6g", w.flops) + "," + fmt("%.6g", w.bytes) +
           "," + num(w.gflops) + "," + num(w.peak_pct) + "," + num(w.gbs) + "," + w.bw_level + "," + num(w.bw_pct) +
           "," + fmt("%.6g", w.intensity) + "," + num(w.share) + "\n";
  }
  return out;
}

std::string prof_roofline_svg(const ProfReport& r) {
  const Roof roof = roof_for(r.limits, r.threads);
  std::vector<size_t> pts;  // indices of the timed rows
  for (size_t i = 0; i < r.rows.size(); ++i)
    if (r.rows[i].ok && r.rows[i].gflops > 0 && r.rows[i].intensity > 0) pts.push_back(i);
  const double peak = roof.peak > 0 ? roof.peak : 1;
  double ai_lo = 0.05, ai_hi = 10, g_lo = peak / 1000, g_hi = peak;
  for (size_t i : pts) {
    ai_lo = std::min(ai_lo, r.rows[i].intensity);
    ai_hi = std::max(ai_hi, r.rows[i].intensity);
    g_lo = std::min(g_lo, r.rows[i].gflops);
    g_hi = std::max(g_hi, r.rows[i].gflops);
  }
  for (const auto& b : roof.bw)
    if (roof_gbs(b) > 0) ai_hi = std::max(ai_hi, peak / roof_gbs(b));
  const double lx0 = std::floor(std::log10(ai_lo)), lx1 = std::ceil(std::log10(ai_hi * 1.5));
  const double ly0 = std::floor(std::log10(g_lo)), ly1 = std::ceil(std::log10(g_hi * 1.5));
  const double px0 = 80, px1 = 620, py0 = 50, py1 = 470;
  auto X = [&](double ai) { return px0 + (std::log10(ai) - lx0) / (lx1 - lx0) * (px1 - px0); };
  auto Y = [&](double g) { return py1 - (std::log10(g) - ly0) / (ly1 - ly0) * (py1 - py0); };
  const double legend_h = 60 + 13.0 * static_cast<double>(pts.size());
  const double H = std::max(540.0, legend_h);
  std::ostringstream s;
  auto f1 = [](double v) { return fmt("%.1f", v); };
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" height=\"" << f1(H) << "\" viewBox=\"0 0 1200 "
    << f1(H) << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"1200\" height=\"" << f1(H) << "\" fill=\"white\"/>\n";
  const std::string title = "nabla prof " + (r.mode == "model" ? "--model " + r.model : r.family) + ": roofline, " +
                            isa_name(r.isa) + ", " + std::to_string(r.threads) + " thread" + (r.threads == 1 ? "" : "s");
  s << "<text x=\"" << f1(px0) << "\" y=\"25\" font-size=\"14\">" << xml_escape(title) << "</text>\n";
  // Grid and axes: one line per decade.
  for (double e = lx0; e <= lx1; e += 1) {
    s << "<line x1=\"" << f1(X(std::pow(10, e))) << "\" y1=\"" << f1(py0) << "\" x2=\"" << f1(X(std::pow(10, e)))
      << "\" y2=\"" << f1(py1) << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << f1(X(std::pow(10, e))) << "\" y=\"" << f1(py1 + 15) << "\" text-anchor=\"middle\">"
      << xml_escape(fmt("%g", std::pow(10, e))) << "</text>\n";
  }
  for (double e = ly0; e <= ly1; e += 1) {
    s << "<line x1=\"" << f1(px0) << "\" y1=\"" << f1(Y(std::pow(10, e))) << "\" x2=\"" << f1(px1) << "\" y2=\""
      << f1(Y(std::pow(10, e))) << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << f1(px0 - 5) << "\" y=\"" << f1(Y(std::pow(10, e)) + 4) << "\" text-anchor=\"end\">"
      << xml_escape(fmt("%g", std::pow(10, e))) << "</text>\n";
  }
  s << "<rect x=\"" << f1(px0) << "\" y=\"" << f1(py0) << "\" width=\"" << f1(px1 - px0) << "\" height=\""
    << f1(py1 - py0) << "\" fill=\"none\" stroke=\"black\"/>\n";
  s << "<text x=\"" << f1((px0 + px1) / 2) << "\" y=\"" << f1(py1 + 35)
    << "\" text-anchor=\"middle\">arithmetic intensity (flop/byte)</text>\n";
  s << "<text x=\"20\" y=\"" << f1((py0 + py1) / 2) << "\" text-anchor=\"middle\" transform=\"rotate(-90 20 "
    << f1((py0 + py1) / 2) << ")\">GFLOP/s</text>\n";
  // Roofs: y = bw·x up to the ridge (peak / bw), then the peak.
  const char* colours[] = {"#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  double ridge_min = std::pow(10, lx1);
  for (size_t b = 0; b < roof.bw.size(); ++b) {
    const double bw = roof_gbs(roof.bw[b]);
    if (!(bw > 0)) continue;
    const double ridge = peak / bw;
    ridge_min = std::min(ridge_min, ridge);
    const double xs = std::max(std::pow(10, lx0), std::pow(10, ly0) / bw);
    const char* col = colours[b % 5];
    s << "<line class=\"roof\" x1=\"" << f1(X(xs)) << "\" y1=\"" << f1(Y(bw * xs)) << "\" x2=\"" << f1(X(ridge))
      << "\" y2=\"" << f1(Y(peak)) << "\" stroke=\"" << col << "\" stroke-width=\"1.5\"/>\n";
    s << "<text x=\"" << f1(X(xs) + 4) << "\" y=\"" << f1(Y(bw * xs) - 6) << "\" fill=\"" << col << "\">"
      << xml_escape(roof.bw[b].level + " " + fmt("%.0f", bw) + " GB/s") << "</text>\n";
  }
  s << "<line class=\"roof\" x1=\"" << f1(X(std::min(ridge_min, std::pow(10, lx1)))) << "\" y1=\"" << f1(Y(peak))
    << "\" x2=\"" << f1(px1) << "\" y2=\"" << f1(Y(peak)) << "\" stroke=\"#d62728\" stroke-width=\"2\"/>\n";
  s << "<text x=\"" << f1(px1 - 4) << "\" y=\"" << f1(Y(peak) - 6) << "\" text-anchor=\"end\" fill=\"#d62728\">"
    << xml_escape("peak " + fmt("%.1f", peak) + " GFLOP/s") << "</text>\n";
  // Points, numbered; the legend names them.
  s << "<text x=\"650\" y=\"50\" font-weight=\"bold\">" << xml_escape("#  variant  pass  shape  GFLOP/s") << "</text>\n";
  for (size_t p = 0; p < pts.size(); ++p) {
    const ProfRow& w = r.rows[pts[p]];
    const std::string num = std::to_string(pts[p] + 1);
    const double cx = X(w.intensity), cy = Y(w.gflops);
    s << "<circle class=\"point\" cx=\"" << f1(cx) << "\" cy=\"" << f1(cy)
      << "\" r=\"3.5\" fill=\"#444\"><title>" << xml_escape(num + " " + row_label(w)) << "</title></circle>\n";
    s << "<text x=\"" << f1(cx + 5) << "\" y=\"" << f1(cy + (p % 2 ? 11 : -4)) << "\" font-size=\"9\">" << num
      << "</text>\n";
    std::string label = num + "  " + (w.layer >= 0 ? "L" + std::to_string(w.layer) + " " : "") + row_label(w) + "  " +
                        fmt("%.1f", w.gflops);
    s << "<text x=\"650\" y=\"" << f1(66 + 13.0 * static_cast<double>(p)) << "\" font-size=\"10\">" << xml_escape(label)
      << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

void write_prof_outputs(const ProfReport& r, const ProfOptions& o) {
  if (!o.json.empty()) write_file_atomic(o.json, prof_json(r));
  if (!o.csv.empty()) write_file_atomic(o.csv, prof_csv(r));
  if (!o.roofline.empty()) write_file_atomic(o.roofline, prof_roofline_svg(r));
}

}  // namespace nabla::cli
