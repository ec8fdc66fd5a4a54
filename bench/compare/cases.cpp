// nabla_compare's cases (see main.cpp): what each peer is, and for every
// case how nabla and each peer compute the same thing and are checked
// against each other.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "compare/compare.hpp"
#include "dnnl_conv.hpp"
#include "nabla/nn/presets.hpp"
#include "nabla/nabla.hpp"

#ifdef NABLA_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef NABLA_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#endif

namespace nabla_compare {
namespace {

namespace nk = nabla::kernels;
namespace nn = nabla::nn;
using nabla::Tensor;
constexpr size_t kPool = 8;  // training batches used in turn

}  // namespace

const char* peer_name(Peer p) {
  switch (p) {
    case Peer::OpenBlas: return "openblas";
    case Peer::OneDnn: return "onednn";
    case Peer::Torch: return "libtorch";
  }
  return "?";
}

bool peer_built(Peer p) {
  switch (p) {
#ifdef NABLA_HAVE_OPENBLAS
    case Peer::OpenBlas: return true;
#endif
#ifdef NABLA_HAVE_DNNL
    case Peer::OneDnn: return true;
#endif
#ifdef NABLA_HAVE_TORCH
    case Peer::Torch: return true;
#endif
    default: return false;
  }
}

std::string peer_version(Peer p) {
  switch (p) {
#ifdef NABLA_HAVE_OPENBLAS
    case Peer::OpenBlas: {
      std::string c = openblas_get_config();
      return c.substr(0, c.find(' ', c.find(' ') + 1)) + " (" + openblas_get_corename() + ")";
    }
#endif
#ifdef NABLA_HAVE_DNNL
    case Peer::OneDnn: {
      const dnnl_version_t* v = dnnl_version();
      return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
    }
#endif
#ifdef NABLA_HAVE_TORCH
    case Peer::Torch: return nabla_compare::torch_version();
#endif
    default: return "";
  }
}

namespace {

// ---- numbers ----------------------------------------------------------------

/// ‖a − b‖ / max(‖a‖, ‖b‖) (0 when both are zero; 1 when the sizes differ).
// ‖a − b‖ / max(‖a‖, ‖b‖, floor): floor > 0 for a tensor that may be ~0 by
// construction (a convolution's bias before batch norm: its gradient is
// rounding noise on both sides), measured against the other gradients' scale.
double rel_error(const float* a, const float* b, size_t n, double floor = 0) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    d += (x - y) * (x - y);
    na += x * x;
    nb += y * y;
  }
  const double den = std::max(std::sqrt(std::max(na, nb)), floor);
  if (std::isnan(d)) return 1;
  return den == 0 ? 0 : std::sqrt(d) / den;
}
double rel_error(const std::vector<float>& a, const std::vector<float>& b, double floor = 0) {
  return a.size() != b.size() ? 1 : rel_error(a.data(), b.data(), a.size(), floor);
}

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

std::vector<float> random_vector(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Train: return "train";
    case Kind::Infer: return "infer";
    case Kind::Conv: return "conv";
    case Kind::Gemm: return "gemm";
    case Kind::Optim: return "optim";
  }
  return "?";
}

namespace {

// -- GEMM
void add_gemm_cases(std::vector<Case>& cases) {
  for (const nabla_bench::GemmShape& s : nabla_bench::kGemmShapes) {
    cases.push_back({"gemm/" + nabla_bench::shape_name(s), Kind::Gemm, {Peer::OpenBlas, Peer::OneDnn}, [s](int threads) {
      struct Data {
        std::vector<float> a, b;
        std::map<int, std::vector<float>> c;  // per side: -1 nabla, else Peer
        int64_t lda, ldb, ldc;
      };
      auto d = std::make_shared<Data>();
      d->lda = s.ta ? s.m : s.k;
      d->ldb = s.tb ? s.k : s.n;
      d->ldc = s.n;
      d->a = random_vector(s.m * s.k, 1);
      d->b = random_vector(s.k * s.n, 2);
      auto c_of = [d, s](int side) -> float* {
        auto& c = d->c[side];
        if (c.empty()) c.assign(static_cast<size_t>(s.m * s.n), 0.f);
        return c.data();
      };
      auto inst = std::make_unique<Instance>();
      float* cn = c_of(-1);
      inst->nabla.call = [d, s, cn] {
        nk::gemm(s.ta ? nk::Trans::Yes : nk::Trans::No, s.tb ? nk::Trans::Yes : nk::Trans::No, s.m, s.n, s.k, 1.f,
                 d->a.data(), d->lda, d->b.data(), d->ldb, 0.f, cn, d->ldc);
      };
#ifdef NABLA_HAVE_OPENBLAS
      {
        float* c = c_of(static_cast<int>(Peer::OpenBlas));
        Side& ob = inst->peers[Peer::OpenBlas];
        ob.before_sample = [threads] { openblas_set_num_threads(threads); };
        ob.call = [d, s, c] {
          cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                      static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.f, d->a.data(),
                      static_cast<int>(d->lda), d->b.data(), static_cast<int>(d->ldb), 0.f, c,
                      static_cast<int>(d->ldc));
        };
      }
#endif
#ifdef NABLA_HAVE_DNNL
      {
        float* c = c_of(static_cast<int>(Peer::OneDnn));
        inst->peers[Peer::OneDnn] = {[threads] { omp_set_num_threads(threads); }, [d, s, c] {
                                       dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.m, s.n, s.k, 1.f, d->a.data(),
                                                  d->lda, d->b.data(), d->ldb, 0.f, c, d->ldc);
                                     }};
      }
#endif
      Instance* self = inst.get();
      inst->check = [self, d, c_of](Peer p) {
        self->nabla.call();
        self->peers.at(p).before_sample();
        self->peers.at(p).call();
        return CheckResult{rel_error(d->c.at(-1), d->c.at(static_cast<int>(p))), ""};
      };
      (void)threads;
      return inst;
    }});
  }
}

// -- convolution layers
enum class ConvPass { Forward, BackwardData, BackwardWeights, Train };

void add_conv_cases(std::vector<Case>& cases) {
  const std::pair<ConvPass, const char*> passes[] = {{ConvPass::Forward, "fwd"},
                                                     {ConvPass::BackwardData, "bwd_data"},
                                                     {ConvPass::BackwardWeights, "bwd_weights"},
                                                     {ConvPass::Train, "train"}};
  for (const nabla_bench::ConvLayer& l : nabla_bench::kConvLayers)
    for (const auto& [pass, pname] : passes) {
      cases.push_back({std::string("conv/") + l.name + "/" + pname, Kind::Conv, {Peer::OneDnn, Peer::Torch},
                       [l, pass = pass](int threads) {
        // Which of the three passes this case runs.
        const bool fwd = pass == ConvPass::Forward || pass == ConvPass::Train;
        const bool bwd_data = pass == ConvPass::BackwardData || (pass == ConvPass::Train && !l.first);
        const bool bwd_w = pass == ConvPass::BackwardWeights || pass == ConvPass::Train;
        struct Data {
          nk::ConvShape s;
          std::vector<float> src, w, b, dz, dst, dsrc, dw, db;
          explicit Data(const nk::ConvParams& p) : s(p) {}
        };
        auto d = std::make_shared<Data>(l.p);
        const nk::ConvShape& s = d->s;
        d->src = random_vector(l.p.n * s.src_image(), 1);
        d->w = random_vector(s.weights_size(), 2);
        d->b = random_vector(l.p.c_out, 3);
        d->dz = random_vector(l.p.n * s.dst_image(), 4);
        d->dst.resize(d->dz.size());
        d->dsrc.resize(d->src.size());
        d->dw.resize(d->w.size());
        d->db.resize(d->b.size());
        auto inst = std::make_unique<Instance>();
        inst->nabla.call = [d, fwd, bwd_data, bwd_w] {
          if (fwd) nk::conv2d_forward(d->s, d->src.data(), d->w.data(), d->b.data(), nk::Activation::ReLU, d->dst.data());
          if (bwd_data) nk::conv2d_backward_data(d->s, d->dz.data(), d->w.data(), d->dsrc.data());
          if (bwd_w) nk::conv2d_backward_weights(d->s, d->src.data(), d->dz.data(), d->dw.data(), d->db.data());
        };
        // The errors of whichever results the passes produce.
        auto compare = [d, fwd, bwd_data, bwd_w](const float* dst, const float* dsrc, const float* dw, const float* db) {
          double e = 0;
          if (fwd) e = std::max(e, rel_error(d->dst.data(), dst, d->dst.size()));
          if (bwd_data) e = std::max(e, rel_error(d->dsrc.data(), dsrc, d->dsrc.size()));
          if (bwd_w) {
            e = std::max(e, rel_error(d->dw.data(), dw, d->dw.size()));
            e = std::max(e, rel_error(d->db.data(), db, d->db.size()));
          }
          return e;
        };
        std::map<Peer, std::function<double()>> checks;
#ifdef NABLA_HAVE_DNNL
        {
          using DP = nabla_bench::DnnlConv::Pass;
          auto dn = std::make_shared<nabla_bench::DnnlConv>(l.p, d->src.data(), d->w.data(), d->b.data(), d->dz.data());
          auto run = [dn, fwd, bwd_data, bwd_w](bool reorders) {
            if (fwd) dn->run(DP::Forward, reorders);
            if (bwd_data) dn->run(DP::BackwardData, reorders);
            if (bwd_w) dn->run(DP::BackwardWeights, reorders);
          };
          inst->peers[Peer::OneDnn] = {[threads] { omp_set_num_threads(threads); }, [run] { run(false); }};
          checks[Peer::OneDnn] = [dn, run, compare] {
            run(true);
            return compare(dn->dst(), dn->dsrc(), dn->dw(), dn->db());
          };
        }
#endif
#ifdef NABLA_HAVE_TORCH
        {
          using TP = nabla_compare::TorchConv::Pass;
          const auto& p = l.p;
          auto tc = std::make_shared<nabla_compare::TorchConv>(p.n, p.c_in, p.h, p.w, p.c_out, p.kh, p.stride_h,
                                                               p.pad_h, d->src.data(), d->w.data(), d->b.data(),
                                                               d->dz.data());
          auto run = [tc, fwd, bwd_data, bwd_w] {
            if (fwd) tc->run(TP::Forward);
            if (bwd_data) tc->run(TP::BackwardData);
            if (bwd_w) tc->run(TP::BackwardWeights);
          };
          inst->peers[Peer::Torch] = {[threads] {
#ifdef NABLA_HAVE_OPENBLAS
                                        openblas_set_num_threads(1);
#endif
                                        nabla_compare::torch_set_threads(threads);
                                      },
                                      run};
          checks[Peer::Torch] = [tc, run, compare, fwd, bwd_data, bwd_w] {
            run();
            const std::vector<float> dst = fwd ? tc->dst() : std::vector<float>{},
                                     dsrc = bwd_data ? tc->dsrc() : std::vector<float>{},
                                     dw = bwd_w ? tc->dw() : std::vector<float>{},
                                     db = bwd_w ? tc->db() : std::vector<float>{};
            return compare(dst.data(), dsrc.data(), dw.data(), db.data());
          };
        }
#endif
        Instance* self = inst.get();
        inst->check = [self, checks](Peer p) {
          self->nabla.call();
          self->peers.at(p).before_sample();
          return CheckResult{checks.at(p)(), ""};
        };
        return inst;
      }});
    }
}

// -- whole networks

struct NetCase {
  std::string name;  // the case's name: a preset, or "act-<activation>"
  std::string spec;  // a preset name or a model spec
  bool image;        // 1×28×28 input (else 784)
  std::vector<int64_t> batches;
};

// The presets, then one MLP per activation of the table (every activation
// checked against torch's and timed; batch 64 only).
const std::vector<NetCase> kNets = [] {
  std::vector<NetCase> v;
  for (const char* p : {"logreg", "mlp-tanh", "mlp-relu", "deep-sigmoid", "deep-softmax"}) v.push_back({p, p, false, {1, 64, 256}});
  for (const char* p : {"cnn-sigmoid", "cnn-softmax", "lenet", "cnn"}) v.push_back({p, p, true, {1, 64, 256}});
  v.push_back({"resnet", "resnet", true, {64}});
  for (const nabla::kernels::ActivationInfo& row : nabla::kernels::kActivations)
    if (row.kind != nabla::kernels::ActKind::None)
      v.push_back({"act-" + std::string(row.name), "dense 128 " + std::string(row.name) + " | dense 10", false, {64}});
  return v;
}();

/// nabla's model for a preset (weights from manual_seed(1)), the batch pool,
/// the loss, and the optimiser; the state both sides start every sample from.
struct NablaNet {
  nn::Sequential model;
  std::vector<int64_t> sample;
  int64_t classes = 1;  // 1: sigmoid output + BCE
  std::vector<Tensor> xs, ts;
  std::vector<std::vector<float>> initial;
  std::unique_ptr<nn::SGD> opt;
  nn::BinaryCrossEntropy bce;
  nn::SoftmaxCrossEntropy sce;
  size_t next = 0;

  NablaNet(const NetCase& net, int64_t batch) {
    sample = net.image ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{784};
    const auto spec = nn::parse_spec(nn::resolve_model(net.spec));
    nn::manual_seed(1);
    auto built = nn::build_classifier(spec, sample, nn::spec_classes(spec));
    // Binary presets end in "dense 1 sigmoid" (2 classes), the others in logits.
    const bool binary = built.outputs == 1;
    model = std::move(built.model);
    classes = binary ? 1 : built.outputs;
    std::vector<int64_t> in = {batch};
    in.insert(in.end(), sample.begin(), sample.end());
    for (size_t i = 0; i < kPool; ++i) {
      xs.push_back(Tensor::uniform(in, 0.f, 1.f, 100 + i));
      Tensor t = Tensor::uniform(binary ? std::vector<int64_t>{batch, 1} : std::vector<int64_t>{batch}, 0.f,
                                 static_cast<float>(binary ? 2 : classes), 200 + i);
      for (int64_t j = 0; j < t.numel(); ++j) t.data()[j] = std::min(std::floor(t.data()[j]), binary ? 1.f : classes - 1.f);
      ts.push_back(std::move(t));
    }
    for (nn::Parameter* p : model.parameters())
      initial.emplace_back(p->value.data(), p->value.data() + p->value.numel());
    reset();
  }
  void reset() {
    const auto ps = model.parameters();
    for (size_t i = 0; i < ps.size(); ++i) std::copy(initial[i].begin(), initial[i].end(), ps[i]->value.data());
    opt = std::make_unique<nn::SGD>(ps, 0.01f, 0.9f);
    next = 0;
  }
  float loss_and_backward(size_t i) {
    Tensor y = model.forward(xs[i]);
    if (classes == 1) {
      const float l = bce.forward(y, ts[i]);
      model.backward(bce.backward());
      return l;
    }
    const float l = sce.forward(y, ts[i]);
    model.backward(sce.backward());
    return l;
  }
  void train_step() {
    opt->zero_grad();
    loss_and_backward(next);
    opt->step();
    next = (next + 1) % kPool;
  }
  void infer() {
    Tensor y = model.forward(xs[next]);
    next = (next + 1) % kPool;
  }
};

#ifdef NABLA_HAVE_TORCH
// The torch description of each layer (a Residual's branches recursively).
std::vector<nabla_compare::LayerDesc> describe_layers(nn::Sequential& model) {
  std::vector<nabla_compare::LayerDesc> out;
  for (int64_t i = 0; i < model.size(); ++i) {
    const nn::TorchEquivalent t = nn::torch_equivalent(model.layer(i));
    out.push_back({t.module, t.kwargs, t.aten_op, t.aten_param, t.aten_str, {}, {}});
    if (auto* r = dynamic_cast<nn::Residual*>(&model.layer(i))) {
      out.back().body = describe_layers(r->body());
      out.back().shortcut = describe_layers(r->shortcut());
    }
  }
  return out;
}

nabla_compare::NetDesc describe(nn::Sequential& model, const std::vector<int64_t>& sample, int64_t classes) {
  nabla_compare::NetDesc net;
  net.sample = sample;
  net.classes = classes;
  net.layers = describe_layers(model);
  return net;
}
#endif

void add_net_cases(std::vector<Case>& cases, Kind kind) {
  for (const NetCase& net : kNets) {
    if (kind == Kind::Infer && net.name != "lenet" && net.name != "cnn") continue;
    for (int64_t batch : net.batches) {
      cases.push_back({std::string(kind_name(kind)) + "/" + net.name + "/b" + std::to_string(batch), kind,
                       {Peer::Torch}, [net, batch, kind](int threads) {
        auto nb = std::make_shared<NablaNet>(net, batch);
        auto inst = std::make_unique<Instance>();
        if (kind == Kind::Train) inst->nabla = {[nb] { nb->reset(); }, [nb] { nb->train_step(); }};
        else inst->nabla = {[nb] { nb->next = 0; }, [nb] { nb->infer(); }};
#ifdef NABLA_HAVE_TORCH
        std::vector<const float*> xs, ts;
        for (size_t i = 0; i < kPool; ++i) xs.push_back(nb->xs[i].data()), ts.push_back(nb->ts[i].data());
        auto tn = std::make_shared<nabla_compare::TorchNet>(describe(nb->model, nb->sample, nb->classes), batch,
                                                            nb->initial, xs, ts, 0.01f, 0.9f);
        auto next = std::make_shared<size_t>(0);
        auto enter = [threads] {
#ifdef NABLA_HAVE_OPENBLAS
          openblas_set_num_threads(1);
#endif
          nabla_compare::torch_set_threads(threads);
        };
        if (kind == Kind::Train)
          inst->peers[Peer::Torch] = {[tn, next, enter] { enter(), tn->reset(), *next = 0; }, [tn, next] {
                                        tn->train_step(*next);
                                        *next = (*next + 1) % kPool;
                                      }};
        else
          inst->peers[Peer::Torch] = {[next, enter] { enter(), *next = 0; }, [tn, next] {
                                        tn->infer(*next);
                                        *next = (*next + 1) % kPool;
                                      }};
        inst->check = [nb, tn, enter, kind](Peer) {
          enter();
          if (kind == Kind::Infer) {
            Tensor y = nb->model.forward(nb->xs[0]);
            tn->infer(0);
            return CheckResult{rel_error(std::vector<float>(y.data(), y.data() + y.numel()), tn->out()), ""};
          }
          // One forward + loss + backward from the same weights and batch.
          // In float32 a max-pool window whose two largest inputs differ by
          // ~1e-7, or a pre-activation within ~1e-7 of 0, can go either way
          // in two correct implementations, and one such flip moves a conv
          // layer's gradient by ~1e-3 (seen at batch 256; libtorch alone,
          // float32 against float64, differs by 7e-4 to 1e-3 in the CNN's
          // conv gradients on 2 of 6 random batches of 256): a batch that
          // mismatches is retried on the next batches of the pool, and the
          // check passes on the first that agrees (a wrong gradient fails
          // on all of them). note says how many it took.
          double first = 0;
          for (size_t b = 0; b < kPool; ++b) {
            nb->reset();
            nb->opt->zero_grad();
            const float ln = nb->loss_and_backward(b);
            tn->reset();
            const float lt = tn->loss_and_grads(b);
            double e = std::abs(static_cast<double>(ln) - lt) / std::max(std::abs(static_cast<double>(lt)), 1e-30);
            const auto gt = tn->grads();
            const auto ps = nb->model.parameters();
            if (gt.size() != ps.size()) return CheckResult{1.0, "parameter counts differ"};
            // The largest gradient's norm: a tenth of it is the floor of every
            // comparison (a bias before batch norm has a gradient of ~1e-6 of
            // it, rounding noise on both sides; the others are far above).
            double largest = 0;
            for (const auto& g : gt) largest = std::max(largest, norm(g));
            for (size_t i = 0; i < ps.size(); ++i)
              e = std::max(e, rel_error(std::vector<float>(ps[i]->grad.data(), ps[i]->grad.data() + ps[i]->grad.numel()),
                                        gt[i], 0.1 * largest));
            if (b == 0) first = e;
            if (e <= kTolerance || b + 1 == kPool) {
              nb->reset();
              tn->reset();
              char note[128] = "";
              if (b > 0)
                std::snprintf(note, sizeof note, "batch 1 of the pool: %.1e, batch %zu: %.1e",
                              first, b + 1, e);
              return CheckResult{e, note};
            }
          }
          return CheckResult{1.0, ""};
        };
#else
        (void)threads;
#endif
        return inst;
      }});
    }
  }
}

// -- optimisers: one parameter of ~1 Mi floats (odd: SIMD tails), the same
// initial value and pool of gradients on both sides. The check runs 50 steps
// from the start on each and compares the parameters, within 1e-5 (tighter
// than the other cases' kTolerance); the timed call is one step.
#ifndef NABLA_HAVE_TORCH  // torch_peer.hpp has it otherwise
struct OptimDesc {
  std::string kind;
  float lr = 1e-3f, momentum = 0.f, weight_decay = 0.f;
  bool nesterov = false;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float alpha = 0.99f;
};
#endif

struct OptimCase {
  const char* name;
  OptimDesc desc;  // torch_peer.hpp's; nabla's optimiser is made from it too
};

std::unique_ptr<nn::Optimizer> make_nabla_optim(const OptimDesc& d, nn::Parameter* p) {
  if (d.kind == "sgd") return std::make_unique<nn::SGD>(std::vector{p}, d.lr, d.momentum, d.weight_decay, d.nesterov);
  if (d.kind == "adam") return std::make_unique<nn::Adam>(std::vector{p}, d.lr, d.beta1, d.beta2, d.eps, d.weight_decay);
  if (d.kind == "adamw") return std::make_unique<nn::AdamW>(std::vector{p}, d.lr, d.beta1, d.beta2, d.eps, d.weight_decay);
  if (d.kind == "rmsprop")
    return std::make_unique<nn::RMSprop>(std::vector{p}, d.lr, d.alpha, d.eps, d.weight_decay, d.momentum);
  throw std::runtime_error("no nabla optimiser '" + d.kind + "'");
}

constexpr int64_t kOptimN = (int64_t{1} << 20) + 7;
constexpr int kCheckSteps = 50;
constexpr double kOptimTolerance = 1e-5;

void add_optim_cases(std::vector<Case>& cases) {
  auto desc = [](const char* kind) {
    OptimDesc d;
    d.kind = kind;
    return d;
  };
  std::vector<OptimCase> list;
  {
    OptimDesc d = desc("sgd");
    d.lr = 0.01f, d.momentum = 0.9f, d.weight_decay = 1e-4f;
    list.push_back({"sgd-momentum", d});
    d.nesterov = true;
    list.push_back({"sgd-nesterov", d});
  }
  {
    OptimDesc d = desc("adam");
    d.weight_decay = 1e-4f;
    list.push_back({"adam", d});
    d = desc("adamw");
    d.weight_decay = 1e-2f;
    list.push_back({"adamw", d});
  }
  {
    OptimDesc d = desc("rmsprop");
    d.lr = 1e-3f, d.weight_decay = 1e-4f;
    list.push_back({"rmsprop", d});
    d.momentum = 0.9f;
    list.push_back({"rmsprop-momentum", d});
  }
  for (const OptimCase& oc : list) {
    cases.push_back({std::string("optim/") + oc.name, Kind::Optim, {Peer::Torch}, [oc](int threads) {
      struct Data {
        std::vector<float> init;
        std::vector<Tensor> grads;  // the pool
        nn::Parameter p{Tensor({kOptimN}), Tensor({kOptimN})};
        std::unique_ptr<nn::Optimizer> opt;
        size_t current = SIZE_MAX;
        void reset(const OptimDesc& d) {
          std::copy(init.begin(), init.end(), p.value.data());
          opt = make_nabla_optim(d, &p);
        }
        void step(size_t t) {
          const size_t i = t % grads.size();
          if (i != current) p.grad.copy_from(grads[i]), current = i;
          opt->step();
        }
      };
      auto d = std::make_shared<Data>();
      d->init = random_vector(kOptimN, 1);
      std::vector<std::vector<float>> pool;
      for (size_t i = 0; i < kPool; ++i) {
        pool.push_back(random_vector(kOptimN, 10 + static_cast<uint32_t>(i)));
        d->grads.emplace_back(std::vector<int64_t>{kOptimN});
        std::copy(pool.back().begin(), pool.back().end(), d->grads.back().data());
      }
      d->reset(oc.desc);
      auto inst = std::make_unique<Instance>();
      inst->nabla.call = [d] { d->step(0); };
#ifdef NABLA_HAVE_TORCH
      std::vector<const float*> gp;
      for (const auto& g : pool) gp.push_back(g.data());
      auto tp = std::make_shared<nabla_compare::TorchOptim>(oc.desc, kOptimN, d->init.data(), gp);
      inst->peers[Peer::Torch] = {[threads] {
#ifdef NABLA_HAVE_OPENBLAS
                                    openblas_set_num_threads(1);
#endif
                                    nabla_compare::torch_set_threads(threads);
                                  },
                                  [tp] { tp->step(0); }};
      inst->check = [d, tp, oc, threads](Peer) {
        nabla::set_num_threads(threads);
        nabla_compare::torch_set_threads(threads);
        d->reset(oc.desc);
        tp->reset();
        for (int t = 0; t < kCheckSteps; ++t) {
          d->step(static_cast<size_t>(t));
          tp->step(static_cast<size_t>(t));
        }
        const std::vector<float> ours(d->p.value.data(), d->p.value.data() + kOptimN);
        const double e = rel_error(ours, tp->param());
        d->reset(oc.desc);  // the timed steps start afresh
        tp->reset();
        if (e <= kOptimTolerance) return CheckResult{e, ""};
        char note[96];
        std::snprintf(note, sizeof note, "after %d steps: %.2e > the optimisers' 1e-5", kCheckSteps, e);
        return CheckResult{std::max(e, 2 * kTolerance), note};
      };
#else
      (void)threads;
#endif
      return inst;
    }});
  }
}

}  // namespace

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  add_net_cases(cases, Kind::Train);
  add_net_cases(cases, Kind::Infer);
  add_conv_cases(cases);
  add_gemm_cases(cases);
  add_optim_cases(cases);
  return cases;
}

}  // namespace nabla_compare
