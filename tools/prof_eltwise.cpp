// `nabla prof eltwise`: the element-wise kernels (activations, losses, the
// optimiser update), one variant per ISA.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "kernels/common/names.hpp"
#include "kernels/conv/conv_internal.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/loss.hpp"
#include "nabla/kernels/optim.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "prof_internal.hpp"

namespace nabla::cli::prof_detail {
namespace {

namespace nk = nabla::kernels;
namespace nkd = nabla::kernels::detail;

// ---- element-wise ----------------------------------------------------------------

// The sizes of bench/bench_eltwise.cpp.
const std::vector<std::string> kEltwiseDefaults = {"16384", "221184", "1605632", "16777216"};

// One element-wise operation: each ISA's kernel table is one variant of it
// (reached through the public function with the ISA forced), named
// f32_<op>_<isa>. Adding an operation is one entry in eltwise_ops().
struct EltData {
  int64_t n = 0, rows = 0;  // rows of the [rows, 10] views (softmax, cross-entropy)
  Buf x, dy, t, labels, act_out[nk::kActivations.size()], y, ref, p0, g, m0, v0, p, m, v;
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
  auto i = [](Activation f) { return static_cast<size_t>(f.kind); };
  for (const nk::ActivationInfo& row : nk::kActivations) {  // every activation of the table
    if (row.kind == nk::ActKind::None) continue;
    const Activation f(row.kind);
    const double fw = row.fwd_flops, bw = row.bwd_flops;
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
  {  // a residual block's add with the ReLU after it, and its backward (nn::Residual)
    const Activation f = Activation::ReLU;
    ops.push_back({"add_relu", "forward", 2, 12, nullptr,
                   [f](EltData& d) { nk::add_activation_forward(f, d.n, d.x->data(), d.dy->data(), d.y->data()); },
                   [f](EltData& d) {
                     nk::add_activation_forward_reference(f, d.n, d.x->data(), d.dy->data(), d.ref->data());
                   }});
    ops.push_back({"add_drelu_bwd", "backward-data", 2, 16, nullptr,
                   [f, i](EltData& d) {
                     nk::add_activation_backward(f, d.n, d.act_out[i(f)]->data(), d.x->data(), d.dy->data(),
                                                 d.y->data());
                   },
                   [f, i](EltData& d) {
                     nk::add_activation_backward_reference(f, d.n, d.act_out[i(f)]->data(), d.x->data(), d.dy->data(),
                                                           d.ref->data());
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
  const nk::SgdParams nesterov{1e-3f, 0.9f, 1e-4f, true};
  ops.push_back({"sgd_nesterov", "optimiser", 8, 20,
                 [](EltData& d) {
                   *d.y = *d.p0;
                   *d.m = *d.m0;
                 },
                 [nesterov](EltData& d) { nk::sgd_update(d.n, d.y->data(), d.g->data(), d.m->data(), nesterov, false); },
                 [nesterov](EltData& d) {
                   *d.ref = *d.p0;
                   std::vector<float> buf = *d.m0;
                   nk::sgd_update_reference(d.n, d.ref->data(), d.g->data(), buf.data(), nesterov, false);
                 }});
  const nk::AdamParams adamw{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f};
  ops.push_back({"adamw", "optimiser", 13, 28,
                 [](EltData& d) {
                   *d.y = *d.p0;
                   *d.m = *d.m0;
                   *d.v = *d.v0;
                 },
                 [adamw](EltData& d) { nk::adamw_update(d.n, d.y->data(), d.g->data(), d.m->data(), d.v->data(), adamw, 1); },
                 [adamw](EltData& d) {
                   *d.ref = *d.p0;
                   std::vector<float> m = *d.m0, v = *d.v0;
                   nk::adamw_update_reference(d.n, d.ref->data(), d.g->data(), m.data(), v.data(), adamw, 1);
                 }});
  // RMSprop with momentum: square_avg in v, the momentum buffer in m.
  const nk::RmspropParams rmsprop{1e-3f, 0.99f, 1e-8f, 1e-4f, 0.9f};
  ops.push_back({"rmsprop_momentum", "optimiser", 10, 28,
                 [](EltData& d) {
                   *d.y = *d.p0;
                   *d.m = *d.m0;
                   *d.v = *d.v0;
                 },
                 [rmsprop](EltData& d) {
                   nk::rmsprop_update(d.n, d.y->data(), d.g->data(), d.v->data(), d.m->data(), rmsprop);
                 },
                 [rmsprop](EltData& d) {
                   *d.ref = *d.p0;
                   std::vector<float> m = *d.m0, v = *d.v0;
                   nk::rmsprop_update_reference(d.n, d.ref->data(), d.g->data(), v.data(), m.data(), rmsprop);
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
  for (const nk::ActivationInfo& row : nk::kActivations) {
    d->act_out[static_cast<size_t>(row.kind)] = make_buf(n);
    nk::activation_forward_reference(row.kind, 1, 1, n, d->x->data(), nk::BiasKind::None, nullptr,
                                     d->act_out[static_cast<size_t>(row.kind)]->data());
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

}  // namespace

const Family kEltwiseFamily = {"eltwise", "N (elements, >= 10), e.g. 1605632", kEltwiseDefaults, &eltwise_cases};

}  // namespace nabla::cli::prof_detail
