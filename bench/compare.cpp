// nabla_compare: nabla against the frameworks, in one run, one command.
//
//     build/release/bench/nabla_compare --threads 1,2 --markdown --json compare.json --plot compare.svg
//
// For every case, nabla and each peer found at build time run interleaved
// (A B A B …, after a warm-up): every sample times a fixed number of calls
// (about --sample-ms worth, default 10 ms, after an untimed ~2 ms pre-roll),
// the samples alternate between the sides (--reps rounds, default 15, the
// order reversed every other round), and each side reports the median time
// per call and its spread (interquartile range). ratio = peer / nabla (> 1:
// nabla is faster). --peers picks peers among those built.
//
// Cases (--list prints them; --filter REGEX picks by name):
//   train/<net>/b<batch>  a whole training step — zero_grad, forward, loss,
//                         backward, SGD (lr 0.01, momentum 0.9) — of the seven
//                         architectures of the paper at the CLI presets' sizes
//                         (logreg … cnn-softmax), plus lenet and cnn, on
//                         784 / 1×28×28 inputs, batch 1, 64, 256; peer:
//                         libtorch (torch::nn::Sequential, the same initial
//                         weights, the same loss).
//   infer/<net>/b<batch>  forward alone, lenet and cnn (libtorch under
//                         c10::InferenceMode).
//   conv/<layer>/<pass>   the five layers of bench_conv: fwd (bias + ReLU),
//                         bwd_data, bwd_weights (+ bias gradient), train (the
//                         passes a training step runs: fwd + bwd_weights, +
//                         bwd_data except for a first layer); peers: oneDNN's
//                         primitives (their own formats, as in bench_conv),
//                         libtorch (conv2d + relu_, at::convolution_backward).
//   gemm/<shape>          the shapes of bench_gemm; peers: OpenBLAS
//                         cblas_sgemm, oneDNN dnnl_sgemm.
//
// Correctness in the same run (benchdnn's --mode=CP): before timing, each
// peer computes the same thing as nabla from the same inputs — for a training
// step, one forward + loss + backward from the same weights and batch — and
// the norm-wise relative error ‖peer − nabla‖ / max(‖peer‖, ‖nabla‖) of every
// output (the loss, each parameter gradient; the conv and GEMM results) must
// be ≤ 1e-4. A peer that disagrees is reported as a mismatch, without a time.
// --check-only runs these checks and no timing.
//
// Training data: a pool of 8 random batches (inputs U(0, 1), random labels),
// the same for both sides, used in turn (a fixed batch trained on over and
// over drives the gradients into denormals); before every sample both
// sides get their initial weights back and a fresh optimiser (untimed), so
// each sample times the same steps.
//
// Threads: --threads 1,2 runs every case at each count, setting each side's
// own control: nabla::set_num_threads, omp_set_num_threads (oneDNN),
// openblas_set_num_threads (OpenBLAS), torch::set_num_threads with one
// inter-op thread. libtorch's OpenBLAS is not under torch::set_num_threads:
// the program re-executes itself with OPENBLAS_NUM_THREADS=1 (and without
// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which make OpenBLAS run its AVX2
// kernel at half speed here) before any library initialises; the OpenBLAS
// peer then raises its own count per sample. Before each sample the program
// waits until no other thread of the process is running, so one side never
// runs against the other's spinning idle workers on a 2-core machine
// (OpenBLAS's spin is also cut from up to ~1 s to ~10 ms with
// OPENBLAS_THREAD_TIMEOUT=24 in the same re-execution; see peer_env.hpp).
// Every runtime is set to the case's thread count before the case is built
// (oneDNN fixes a primitive's thread partition when it creates it).
//
// --json FILE writes this schema ("nabla-compare/1"):
//   { "schema": "nabla-compare/1", "command": "...", "date": "UTC ISO 8601",
//     "cpu": "...", "load_average": [1, 5, 15 min] at the start,
//     "load_average_end": [...], "reps": N, "sample_ms": S,
//     "peers": { "<peer>": { "built": bool, "version": "..." } },
//     "results": [ { "case": "train/lenet/b64", "kind": "train|infer|conv|gemm",
//                    "threads": 1, "peer": "openblas|onednn|libtorch",
//                    "status": "ok|mismatch|not built|error|checked",
//                    "check_error": 1.2e-7,          // absent when not built
//                    "message": "...",               // why (mismatch, error), or how the
//                                                    // check passed (a retried batch)
//                    "nabla": TIMES, "peer_time": TIMES,   // status "ok" only
//                    "ratio": peer median / nabla median } ] }   // status "ok" only
//   TIMES = { "median_us", "q1_us", "q3_us", "min_us", "max_us": per call,
//             "samples": N, "calls_per_sample": K }
// --markdown prints one table per kind for bench/RESULTS.md; --plot FILE.svg
// draws the ratios as bars on a log scale with a line at 1×. --from-json
// A.json,B.json prints (and plots, and with --json merges) saved results,
// in case order and filtered by --filter, instead of running: a long
// comparison on a shared machine can be run in pieces (--filter), each when
// the machine is quiet, and shown as one.
//
// Exit status: 0; 1 when a check mismatched or a case failed (or a file
// could not be written); 2 for a bad option. NABLA_COMPARE_DEBUG=1 prints
// each calibration and sample on stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench_cases.hpp"
#include "dnnl_conv.hpp"
#include "model_spec.hpp"
#include "nabla/nabla.hpp"
#include "peer_env.hpp"
#include "trainer.hpp"

#ifdef NABLA_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef NABLA_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#endif
#ifdef NABLA_HAVE_TORCH
#include "compare/torch_peer.hpp"
#endif

namespace {

namespace nk = nabla::kernels;
namespace nn = nabla::nn;
using nabla::Tensor;
using Clock = std::chrono::steady_clock;

constexpr double kTolerance = 1e-4;
constexpr size_t kPool = 8;  // training batches used in turn

// ---- peers ----------------------------------------------------------------

enum class Peer { OpenBlas, OneDnn, Torch };
constexpr Peer kAllPeers[] = {Peer::OpenBlas, Peer::OneDnn, Peer::Torch};

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

// ---- numbers ----------------------------------------------------------------

/// ‖a − b‖ / max(‖a‖, ‖b‖) (0 when both are zero; 1 when the sizes differ).
double rel_error(const float* a, const float* b, size_t n) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    d += (x - y) * (x - y);
    na += x * x;
    nb += y * y;
  }
  const double den = std::sqrt(std::max(na, nb));
  if (std::isnan(d)) return 1;
  return den == 0 ? 0 : std::sqrt(d) / den;
}
double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() != b.size() ? 1 : rel_error(a.data(), b.data(), a.size());
}

std::vector<float> random_vector(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

struct Times {
  double median = NAN, q1 = NAN, q3 = NAN, min = NAN, max = NAN;  // µs per call
  int samples = 0;
  int64_t calls = 0;  // per sample
};

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Times summarise(const std::vector<double>& us, int64_t calls) {
  Times t;
  t.samples = static_cast<int>(us.size());
  t.calls = calls;
  if (us.empty()) return t;
  t.median = quantile(us, 0.5);
  t.q1 = quantile(us, 0.25);
  t.q3 = quantile(us, 0.75);
  t.min = *std::min_element(us.begin(), us.end());
  t.max = *std::max_element(us.begin(), us.end());
  return t;
}

// ---- cases ------------------------------------------------------------------

/// One side of a comparison: nabla or a peer.
struct Side {
  std::function<void()> before_sample;  // untimed: weights back, thread count…
  std::function<void()> call;           // timed
};

/// A peer's norm-wise relative error against nabla, and a note on how it
/// was obtained (empty when plain).
struct CheckResult {
  double error;
  std::string note;
};

/// A case set up for one thread count: nabla and the peers that are built.
struct Instance {
  Side nabla;
  std::map<Peer, Side> peers;
  /// The peer's norm-wise relative error against nabla (runs both once).
  std::function<CheckResult(Peer)> check;
};

enum class Kind { Train, Infer, Conv, Gemm };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Train: return "train";
    case Kind::Infer: return "infer";
    case Kind::Conv: return "conv";
    case Kind::Gemm: return "gemm";
  }
  return "?";
}

struct Case {
  std::string name;
  Kind kind;
  std::vector<Peer> peers;  // the peers this case compares with (built or not)
  std::function<std::unique_ptr<Instance>(int threads)> make;
};

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
  const char* preset;
  bool image;  // 1×28×28 input (else 784)
};

const NetCase kNets[] = {{"logreg", false},      {"mlp-tanh", false},    {"mlp-relu", false},
                         {"deep-sigmoid", false}, {"deep-softmax", false}, {"cnn-sigmoid", true},
                         {"cnn-softmax", true},  {"lenet", true},        {"cnn", true}};

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
    const auto spec = nabla::cli::parse_spec(nabla::cli::resolve_model(net.preset));
    // Binary presets end in "dense 1 sigmoid" (2 classes), the others in logits.
    const bool binary = spec.layers.back().kind == nabla::cli::LayerKind::Dense && spec.layers.back().units == 1;
    nn::manual_seed(1);
    auto built = nabla::cli::build_model(spec, sample, binary ? 2 : spec.layers.back().units);
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
nabla_compare::NetDesc describe(nn::Sequential& model, const std::vector<int64_t>& sample, int64_t classes) {
  using K = nabla_compare::LayerDesc::Kind;
  nabla_compare::NetDesc net;
  net.sample = sample;
  net.classes = classes;
  for (int64_t i = 0; i < model.size(); ++i) {
    nn::Layer& l = model.layer(i);
    nabla_compare::LayerDesc d{};
    if (auto* x = dynamic_cast<nn::Dense*>(&l)) d = {K::Dense, x->in_features(), x->out_features()};
    else if (auto* c = dynamic_cast<nn::Conv2D*>(&l))
      d = {K::Conv, c->in_channels(), c->out_channels(), c->kernel(), c->stride(), c->padding()};
    else if (auto* m = dynamic_cast<nn::MaxPool2D*>(&l)) d = {K::MaxPool, 0, 0, m->kernel(), m->stride()};
    else if (dynamic_cast<nn::Flatten*>(&l)) d.kind = K::Flatten;
    else if (dynamic_cast<nn::ReLU*>(&l)) d.kind = K::ReLU;
    else if (dynamic_cast<nn::Sigmoid*>(&l)) d.kind = K::Sigmoid;
    else if (dynamic_cast<nn::Tanh*>(&l)) d.kind = K::Tanh;
    else throw std::runtime_error("no libtorch equivalent for layer " + l.name());
    net.layers.push_back(d);
  }
  return net;
}
#endif

void add_net_cases(std::vector<Case>& cases, Kind kind) {
  for (const NetCase& net : kNets) {
    if (kind == Kind::Infer && std::string(net.preset) != "lenet" && std::string(net.preset) != "cnn") continue;
    for (int64_t batch : {1, 64, 256}) {
      cases.push_back({std::string(kind_name(kind)) + "/" + net.preset + "/b" + std::to_string(batch), kind,
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
            for (size_t i = 0; i < ps.size(); ++i)
              e = std::max(e, rel_error(std::vector<float>(ps[i]->grad.data(), ps[i]->grad.data() + ps[i]->grad.numel()),
                                        gt[i]));
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

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  add_net_cases(cases, Kind::Train);
  add_net_cases(cases, Kind::Infer);
  add_conv_cases(cases);
  add_gemm_cases(cases);
  return cases;
}

// ---- timing -----------------------------------------------------------------

struct Options {
  std::vector<int> threads = {1, 2};
  std::string filter;
  int reps = 15;
  double sample_ms = 10;
  std::string json, plot;
  bool markdown = false, check_only = false, list = false;
  std::vector<Peer> peers = {Peer::OpenBlas, Peer::OneDnn, Peer::Torch};  // --peers
  std::vector<double> load_start;
  std::vector<std::string> from_json;  // --from-json: results to print instead of running
};

// Before each sample, the previous side's idle workers must be asleep, or
// they take a core from the side being timed: libgomp's workers spin-wait a
// few ms after a parallel region, OpenBLAS's spin (sched_yield) for
// 2^OPENBLAS_THREAD_TIMEOUT TSC ticks — by default up to ~1 s here, during
// which nabla's 2-thread 256³ GEMM ran at 1-thread speed and oneDNN's
// 2-thread GEMMs 100× slower (its OpenMP barriers waited on the busy core).
// settle() waits until no other thread of this process is running (state R
// in /proc/self/task/*/stat) on two polls in a row, at least 5 ms and at
// most 2 s; the count of waits that ran out is printed at the end.
int settle_timeouts = 0;

bool other_threads_running() {
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return false;
  bool running = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == self) continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string stat;
    std::getline(f, stat);
    const size_t paren = stat.rfind(')');  // "tid (name) S ..."
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'R') running = true;
  }
  closedir(dir);
  return running;
}

void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = Clock::now();
  int quiet = 0;
  while (quiet < 2) {
    if (Clock::now() - t0 > std::chrono::seconds(2)) {
      ++settle_timeouts;
      return;
    }
    quiet = other_threads_running() ? 0 : quiet + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// Calls per sample so that a sample lasts about sample_ms (after a warm-up:
/// first calls allocate, JIT, start thread pools).
int64_t calibrate(Side& s, double sample_ms) {
  if (s.before_sample) s.before_sample();
  settle();
  s.call();
  int64_t n = 0;
  const auto t0 = Clock::now();
  double ms = 0;
  while (n < 3 || ms < sample_ms) {
    s.call();
    ++n;
    ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  if (std::getenv("NABLA_COMPARE_DEBUG")) std::fprintf(stderr, "calibrate: %ld calls in %.3f ms\n", (long)n, ms);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(sample_ms / (ms / static_cast<double>(n)))));
}

double time_sample(Side& s, int64_t calls) {
  if (s.before_sample) s.before_sample();
  settle();
  // Untimed pre-roll (>= 1 call, ~2 ms): wakes this side's own workers and
  // the vCPUs after the pause, so a sample times the side in its steady
  // state (without it, 2-thread samples of the same GEMM ranged 75-135 µs).
  for (const auto p0 = Clock::now(); Clock::now() - p0 < std::chrono::milliseconds(2);) s.call();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < calls; ++i) s.call();
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / static_cast<double>(calls);
  if (std::getenv("NABLA_COMPARE_DEBUG")) std::fprintf(stderr, "sample: %ld calls, %.1f us\n", (long)calls, us);
  return us;
}

// ---- results ----------------------------------------------------------------

struct Result {
  std::string case_name;
  Kind kind = Kind::Train;
  int threads = 1;
  Peer peer = Peer::Torch;
  std::string status;  // ok, mismatch, not built, error, checked
  double check_error = NAN;
  std::string message;
  Times nabla, peer_time;
  double ratio = NAN;
};

std::string us_cell(const Times& t) {
  char buf[64];
  const double spread = 100 * (t.q3 - t.q1) / 2 / t.median;
  if (t.median >= 100) std::snprintf(buf, sizeof buf, "%.0f ±%.0f%%", t.median, spread);
  else std::snprintf(buf, sizeof buf, "%.1f ±%.0f%%", t.median, spread);
  return buf;
}

void print_row(const Result& r) {
  char err[32] = "";
  if (!std::isnan(r.check_error)) std::snprintf(err, sizeof err, " (err %.1e)", r.check_error);
  const std::string note = r.message.empty() || r.status == "mismatch" ? "" : "; " + r.message;
  if (r.status == "ok")
    std::printf("%-44s %3d %-9s %16s %16s %7.2f   ok%s%s\n", r.case_name.c_str(), r.threads, peer_name(r.peer),
                us_cell(r.nabla).c_str(), us_cell(r.peer_time).c_str(), r.ratio, err, note.c_str());
  else
    std::printf("%-44s %3d %-9s %16s %16s %7s   %s%s%s\n", r.case_name.c_str(), r.threads, peer_name(r.peer), "", "",
                "", r.status.c_str(), r.status == "mismatch" ? (": " + r.message).c_str() : err, note.c_str());
  std::fflush(stdout);
}

std::string md_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
  return o;
}

void print_markdown(const std::vector<Result>& results) {
  for (Kind kind : {Kind::Train, Kind::Infer, Kind::Conv, Kind::Gemm}) {
    std::vector<Peer> peers;
    for (const Result& r : results)
      if (r.kind == kind && std::find(peers.begin(), peers.end(), r.peer) == peers.end()) peers.push_back(r.peer);
    if (peers.empty()) continue;
    std::printf("\n| %s case | threads | nabla µs |", kind_name(kind));
    for (Peer p : peers) std::printf(" %s µs | %s / nabla |", peer_name(p), peer_name(p));
    std::printf("\n| --- | --- | --- |");
    for (size_t i = 0; i < peers.size(); ++i) std::printf(" --- | --- |");
    std::printf("\n");
    // One row per (case, threads), in the order they ran.
    std::vector<std::pair<std::string, int>> rows;
    for (const Result& r : results)
      if (r.kind == kind && std::find(rows.begin(), rows.end(), std::make_pair(r.case_name, r.threads)) == rows.end())
        rows.emplace_back(r.case_name, r.threads);
    for (const auto& [name, t] : rows) {
      std::string nabla_cell = "";
      std::string cells;
      for (Peer p : peers) {
        const Result* r = nullptr;
        for (const Result& x : results)
          if (x.case_name == name && x.threads == t && x.peer == p) r = &x;
        if (!r) cells += " | |";
        else if (r->status == "ok") {
          nabla_cell = us_cell(r->nabla);
          char ratio[32];
          std::snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
          cells += " " + us_cell(r->peer_time) + " | " + (r->ratio >= 1 ? std::string("**") + ratio + "**" : ratio) + " |";
        } else if (r->status == "checked") {
          char e[48];
          std::snprintf(e, sizeof e, "checked (err %.0e)", r->check_error);
          cells += std::string(" ") + e + " | |";
        } else {
          cells += " " + md_escape(r->status) + " | |";
        }
      }
      std::printf("| %s | %d | %s |%s\n", md_escape(name).c_str(), t, nabla_cell.c_str(), cells.c_str());
    }
  }
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::vector<double> load_average() {
  std::ifstream f("/proc/loadavg");
  double a = NAN, b = NAN, c = NAN;
  f >> a >> b >> c;
  return {a, b, c};
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

nlohmann::json times_json(const Times& t) {
  return {{"median_us", t.median}, {"q1_us", t.q1},       {"q3_us", t.q3},
          {"min_us", t.min},       {"max_us", t.max},     {"samples", t.samples},
          {"calls_per_sample", t.calls}};
}

void write_json(const std::string& path, const std::vector<Result>& results, const Options& o,
                const std::string& command) {
  nlohmann::json j;
  j["schema"] = "nabla-compare/1";
  j["command"] = command;
  j["date"] = utc_now();
  j["cpu"] = cpu_model();
  j["load_average"] = o.load_start;
  j["load_average_end"] = load_average();
  j["reps"] = o.reps;
  j["sample_ms"] = o.sample_ms;
  for (Peer p : kAllPeers) j["peers"][peer_name(p)] = {{"built", peer_built(p)}, {"version", peer_version(p)}};
  j["results"] = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json x = {{"case", r.case_name}, {"kind", kind_name(r.kind)}, {"threads", r.threads},
                        {"peer", peer_name(r.peer)}, {"status", r.status}};
    if (!std::isnan(r.check_error)) x["check_error"] = r.check_error;
    if (!r.message.empty()) x["message"] = r.message;
    if (r.status == "ok") {
      x["nabla"] = times_json(r.nabla);
      x["peer_time"] = times_json(r.peer_time);
      x["ratio"] = r.ratio;
    }
    j["results"].push_back(x);
  }
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  if (!f) throw std::runtime_error("cannot write " + path);
}

Times times_from_json(const nlohmann::json& j) {
  Times t;
  t.median = j.at("median_us");
  t.q1 = j.at("q1_us");
  t.q3 = j.at("q3_us");
  t.min = j.at("min_us");
  t.max = j.at("max_us");
  t.samples = j.at("samples");
  t.calls = j.at("calls_per_sample");
  return t;
}

/// The results of earlier --json files, in order (what --from-json prints).
std::vector<Result> read_json(const std::vector<std::string>& paths) {
  std::vector<Result> out;
  for (const std::string& path : paths) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot read " + path);
    const nlohmann::json j = nlohmann::json::parse(f);
    if (j.value("schema", "") != "nabla-compare/1") throw std::runtime_error(path + ": not a nabla-compare/1 file");
    for (const auto& x : j.at("results")) {
      Result r;
      r.case_name = x.at("case");
      const std::string kind = x.at("kind"), peer = x.at("peer");
      for (Kind k : {Kind::Train, Kind::Infer, Kind::Conv, Kind::Gemm})
        if (kind == kind_name(k)) r.kind = k;
      for (Peer p : kAllPeers)
        if (peer == peer_name(p)) r.peer = p;
      r.threads = x.at("threads");
      r.status = x.at("status");
      r.check_error = x.value("check_error", static_cast<double>(NAN));
      r.message = x.value("message", "");
      if (r.status == "ok") {
        r.nabla = times_from_json(x.at("nabla"));
        r.peer_time = times_from_json(x.at("peer_time"));
        r.ratio = x.at("ratio");
      }
      out.push_back(r);
    }
  }
  return out;
}

/// Horizontal bars: one per (case, threads, peer) with a time, length
/// log2(ratio) from the 1× line, one colour per peer.
void write_svg(const std::string& path, const std::vector<Result>& results) {
  std::vector<const Result*> rows;
  for (const Result& r : results)
    if (r.status == "ok" && r.ratio > 0) rows.push_back(&r);
  double lo = 0.5, hi = 2;
  for (const Result* r : rows) lo = std::min(lo, r->ratio), hi = std::max(hi, r->ratio);
  const double l2lo = std::floor(std::log2(lo)), l2hi = std::ceil(std::log2(hi));
  const int label_w = 330, plot_w = 520, row_h = 12, top = 40, bottom = 30;
  const int width = label_w + plot_w + 40, height = top + bottom + row_h * static_cast<int>(rows.size());
  auto x_of = [&](double ratio) {
    return label_w + plot_w * (std::log2(ratio) - l2lo) / (l2hi - l2lo);
  };
  const std::map<Peer, const char*> colour = {{Peer::OpenBlas, "#4c72b0"}, {Peer::OneDnn, "#dd8452"},
                                              {Peer::Torch, "#55a868"}};
  std::ostringstream s;
  char buf[512];
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                "font-size=\"10\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                width, height);
  s << buf;
  s << "<text x=\"10\" y=\"16\" font-size=\"13\">nabla_compare: speed-up of nabla = peer time / nabla time "
       "(log scale; right of the line: nabla faster)</text>\n";
  int lx = label_w;
  for (Peer p : kAllPeers) {
    std::snprintf(buf, sizeof buf, "<rect x=\"%d\" y=\"22\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"31\">%s</text>\n",
                  lx, colour.at(p), lx + 14, peer_name(p));
    s << buf;
    lx += 90;
  }
  for (double e = l2lo; e <= l2hi; ++e) {
    const double x = x_of(std::exp2(e));
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g×</text>\n",
                  x, top - 4, x, height - bottom + 4, e == 0 ? "black" : "#ddd", e == 0 ? "1.5" : "1", x,
                  height - bottom + 16, std::exp2(e));
    s << buf;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const Result& r = *rows[i];
    const double y = top + row_h * static_cast<double>(i);
    const double x1 = x_of(1), x2 = x_of(r.ratio);
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s, %d thr, %s</text>"
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"9\">%.2f</text>\n",
                  label_w - 6, y + row_h - 3, nabla::cli::xml_escape(r.case_name).c_str(), r.threads, peer_name(r.peer),
                  std::min(x1, x2), y + 1, std::abs(x2 - x1), row_h - 2, colour.at(r.peer),
                  r.ratio >= 1 ? x2 + 3 : x2 - 3, y + row_h - 3, r.ratio >= 1 ? "start" : "end", r.ratio);
    s << buf;
  }
  std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                x_of(1), top - 4, x_of(1), height - bottom + 4);
  s << buf;
  s << "</svg>\n";
  std::ofstream f(path);
  f << s.str();
  if (!f) throw std::runtime_error("cannot write " + path);
}

// ---- options ----------------------------------------------------------------

const char* kUsage =
    "usage: nabla_compare [--threads 1,2] [--filter REGEX] [--peers openblas,onednn,libtorch] [--reps N]\n"
    "                     [--sample-ms MS]"
    " [--json FILE] [--markdown] [--plot FILE.svg] [--check-only] [--list]\n"
    "                     [--from-json A.json,B.json (print/plot saved results, run nothing)]\n"
    "Times nabla against OpenBLAS, oneDNN and libtorch (those built in), interleaved, after checking\n"
    "that each peer computes the same results (relative error <= 1e-4). See bench/compare.cpp.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "nabla_compare: %s\n%s", what.c_str(), kUsage);
  std::exit(2);
}

long parse_int(const std::string& opt, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi)
    usage_error(opt + " '" + v + "': expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return x;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads.clear();
      std::stringstream ss(value());
      std::string t;
      while (std::getline(ss, t, ',')) o.threads.push_back(static_cast<int>(parse_int("--threads", t, 1, 1024)));
      if (o.threads.empty()) usage_error("--threads: expected a list like 1,2");
    } else if (a == "--peers") {
      o.peers.clear();
      std::stringstream ss(value());
      std::string t;
      while (std::getline(ss, t, ',')) {
        bool known = false;
        for (Peer p : kAllPeers)
          if (t == peer_name(p)) o.peers.push_back(p), known = true;
        if (!known) usage_error("--peers: unknown peer '" + t + "' (openblas, onednn, libtorch)");
      }
    } else if (a == "--filter") {
      o.filter = value();
      try {
        std::regex re(o.filter);
      } catch (const std::regex_error& e) {
        usage_error("--filter '" + o.filter + "': not a regular expression (" + e.what() + ")");
      }
    } else if (a == "--reps") o.reps = static_cast<int>(parse_int("--reps", value(), 1, 100000));
    else if (a == "--sample-ms") o.sample_ms = static_cast<double>(parse_int("--sample-ms", value(), 1, 60000));
    else if (a == "--json") o.json = value();
    else if (a == "--from-json") {
      std::stringstream ss(value());
      std::string f;
      while (std::getline(ss, f, ',')) o.from_json.push_back(f);
    }
    else if (a == "--plot") o.plot = value();
    else if (a == "--markdown") o.markdown = true;
    else if (a == "--check-only") o.check_only = true;
    else if (a == "--list") o.list = true;
    else if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else usage_error("unknown option '" + a + "'");
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::string command = "nabla_compare";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];

  if (!o.from_json.empty()) {
    try {
      // In the program's case order (then threads, then peer), --filter applied.
      std::map<std::string, size_t> order;
      for (const Case& c : all_cases()) order.emplace(c.name, order.size());
      const std::regex re(o.filter);
      std::vector<Result> results;
      for (Result& r : read_json(o.from_json))
        if (o.filter.empty() || std::regex_search(r.case_name, re)) results.push_back(std::move(r));
      auto key = [&](const Result& r) {
        const auto it = order.find(r.case_name);
        return std::make_tuple(it == order.end() ? order.size() : it->second, r.threads, static_cast<int>(r.peer));
      };
      std::stable_sort(results.begin(), results.end(),
                       [&](const Result& a, const Result& b) { return key(a) < key(b); });
      for (const Result& r : results) print_row(r);
      if (o.markdown) print_markdown(results);
      if (!o.json.empty()) write_json(o.json, results, o, command);
      if (!o.plot.empty()) write_svg(o.plot, results);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nabla_compare: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  nabla_bench::reexec_with_peer_env(argv, "nabla_compare", true, 24);
  const std::regex re(o.filter);
  std::vector<Case> cases;
  for (Case& c : all_cases())
    if (o.filter.empty() || std::regex_search(c.name, re)) cases.push_back(std::move(c));
  if (o.list) {
    for (const Case& c : cases) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  if (cases.empty()) usage_error("--filter '" + o.filter + "' matches no case (see --list)");

  const auto load = o.load_start = load_average();
  std::printf("nabla_compare: %zu cases × threads {", cases.size());
  for (size_t i = 0; i < o.threads.size(); ++i) std::printf("%s%d", i ? "," : "", o.threads[i]);
  std::printf("}, %s; CPU %s; load average %.2f %.2f %.2f\n",
              o.check_only ? "checks only" : (std::to_string(o.reps) + " interleaved samples of ~" +
                                              std::to_string(static_cast<int>(o.sample_ms)) + " ms per side")
                                                 .c_str(),
              cpu_model().c_str(), load[0], load[1], load[2]);
  for (Peer p : kAllPeers)
    std::printf("  peer %-9s %s\n", peer_name(p),
                peer_built(p) ? ("built, " + peer_version(p)).c_str() : "not built");
  std::printf("\n%-44s %3s %-9s %16s %16s %7s   %s\n", "case", "thr", "peer", "nabla µs", "peer µs", "ratio",
              "check");

  std::vector<Result> results;
  std::map<std::string, int> counts;  // status -> rows
  std::map<Peer, int> checks_passed, checks_failed;
  for (const Case& c : cases) {
    for (int threads : o.threads) {
      std::vector<Result> rows;
      for (Peer p : c.peers) {
        if (std::find(o.peers.begin(), o.peers.end(), p) == o.peers.end()) continue;
        Result r;
        r.case_name = c.name;
        r.kind = c.kind;
        r.threads = threads;
        r.peer = p;
        r.status = peer_built(p) ? "" : "not built";
        rows.push_back(r);
      }
      std::unique_ptr<Instance> inst;
      try {
        // Every runtime at this count before anything is built: oneDNN fixes
        // a primitive's thread partition when it creates it.
        nabla::set_num_threads(threads);
#ifdef NABLA_HAVE_DNNL
        omp_set_num_threads(threads);
#endif
#ifdef NABLA_HAVE_TORCH
        nabla_compare::torch_set_threads(threads);
#endif
        inst = c.make(threads);
        // Correctness first.
        for (Result& r : rows) {
          if (!r.status.empty()) continue;
          const CheckResult cr = inst->check(r.peer);
          r.check_error = cr.error;
          r.message = cr.note;
          if (!(r.check_error <= kTolerance)) {
            r.status = "mismatch";
            char m[96];
            std::snprintf(m, sizeof m, "relative error %.2e > %.0e", r.check_error, kTolerance);
            r.message = m + (r.message.empty() ? "" : " (" + r.message + ")");
            ++checks_failed[r.peer];
          } else {
            ++checks_passed[r.peer];
          }
        }
        // Then the interleaved timing of nabla and the peers that agree.
        std::vector<Side*> sides = {&inst->nabla};
        std::vector<Result*> timed;
        for (Result& r : rows) {
          if (!r.status.empty()) continue;
          if (o.check_only) {
            r.status = "checked";
            continue;
          }
          sides.push_back(&inst->peers.at(r.peer));
          timed.push_back(&r);
        }
        if (sides.size() > 1) {
          nabla::set_num_threads(threads);
          std::vector<int64_t> calls;
          for (Side* s : sides) calls.push_back(calibrate(*s, o.sample_ms));
          std::vector<std::vector<double>> us(sides.size());
          for (int rep = 0; rep < o.reps; ++rep)
            for (size_t k = 0; k < sides.size(); ++k) {
              const size_t i = rep % 2 == 0 ? k : sides.size() - 1 - k;  // A B … then … B A
              us[i].push_back(time_sample(*sides[i], calls[i]));
            }
          const Times tn = summarise(us[0], calls[0]);
          for (size_t i = 0; i < timed.size(); ++i) {
            timed[i]->status = "ok";
            timed[i]->nabla = tn;
            timed[i]->peer_time = summarise(us[i + 1], calls[i + 1]);
            timed[i]->ratio = timed[i]->peer_time.median / tn.median;
          }
        }
      } catch (const std::exception& e) {
        for (Result& r : rows)
          if (r.status.empty() || r.status == "checked") r.status = "error", r.message = e.what();
      }
      for (Result& r : rows) {
        print_row(r);
        ++counts[r.status];
        results.push_back(std::move(r));
      }
    }
  }

  std::printf("\n");
  for (Peer p : kAllPeers) {
    if (!peer_built(p)) continue;
    const int ok = checks_passed[p], bad = checks_failed[p];
    if (ok + bad == 0) continue;
    std::printf("checks %s: %s: %d passed, %d mismatched\n", bad ? "FAILED" : "passed", peer_name(p), ok, bad);
  }
  if (settle_timeouts > 0)
    std::printf("note: %d samples started with another thread of the process still running after 2 s\n",
                settle_timeouts);
  const auto load_end = load_average();
  std::printf("load average at the end: %.2f %.2f %.2f\n", load_end[0], load_end[1], load_end[2]);
  if (o.markdown) print_markdown(results);
  try {
    if (!o.json.empty()) write_json(o.json, results, o, command);
    if (!o.plot.empty()) write_svg(o.plot, results);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nabla_compare: %s\n", e.what());
    return 1;
  }
  return counts["mismatch"] + counts["error"] > 0 ? 1 : 0;
}
