// One full training step (zero_grad, forward, loss, backward, SGD step) of
// the presets logreg, mlp-tanh, mlp, lenet and cnn (nn::presets(), the
// models `nabla train` and nabla_compare use), at batch 1, 64 and 256, 1 and 2 threads
// (BM_train_step), and inference alone (BM_infer: forward only) for the two
// CNNs. Counters: samples/s, and "floor" = the fraction of the FLOP floor
// (GEMM FLOPs of the step, without the first layer's input gradient, at the
// FMA peak measured in this run for the same thread count).
//
//     ./build/bench/bench_train --benchmark_min_time=0.5
//     ./build/bench/bench_train --benchmark_filter='lenet|cnn'   # net 3 and 4
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/presets.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/threads.hpp"
#include "peak.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;

namespace {

/// FLOPs per sample of a network's GEMMs: forward, and training (forward +
/// dW + dX, without dX for the first layer: nobody asks for it).
struct Flops {
  double forward = 0, train = 0;
};

struct Net {
  const char* name;             // a preset of nn::presets()
  std::vector<int64_t> sample;  // input shape of one sample
  int64_t classes;              // 1: sigmoid + BCE; else logits + cross-entropy
  Flops flops;
};

/// The GEMM FLOPs of a model per sample, from each layer's registry entry
/// and arguments: Dense 2·in·out, Conv2D 2·out·in·k²·OH·OW.
Flops count_flops(nn::Sequential& model, const std::vector<int64_t>& sample) {
  Flops f;
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), sample.begin(), sample.end());
  bool first = true;
  for (int64_t i = 0; i < model.size(); ++i) {
    nn::Layer& l = model.layer(i);
    const std::vector<int64_t> out = l.output_shape(shape);
    const std::vector<double> a = l.args();
    double pass = 0;
    if (l.type().name == "Dense") pass = 2 * a[0] * a[1];
    if (l.type().name == "Conv2D") pass = 2 * a[1] * a[0] * a[2] * a[2] * static_cast<double>(out[2] * out[3]);
    if (pass > 0) {
      f.forward += pass;
      f.train += pass * (first ? 2 : 3);  // fwd, dW (, dX: nobody asks for the first layer's)
      first = false;
    }
    shape = out;
  }
  return f;
}

/// The presets timed here: the MLPs, then the CNNs (from kFirstCnn).
const std::vector<Net>& nets() {
  static const std::vector<Net> n = [] {
    std::vector<Net> v;
    for (const char* name : {"logreg", "mlp-tanh", "mlp", "lenet", "cnn"}) {
      const nn::ModelSpec spec = nn::parse_spec(nn::resolve_model(name));
      const std::vector<int64_t> sample =
          nn::spec_takes_images(spec) ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{784};
      nn::Sequential m = nn::build_model(spec, sample);
      const int64_t classes = nn::spec_classes(spec) == 2 ? 1 : nn::spec_classes(spec);
      v.push_back({name, sample, classes, count_flops(m, sample)});
    }
    return v;
  }();
  return n;
}

constexpr int64_t kFirstCnn = 3;  // nets()[3], [4]: the CNNs

double peak_gflops(int threads) {
  static std::map<int, double> cache;
  auto it = cache.find(threads);
  if (it != cache.end()) return it->second;
  const nabla::Isa isa = nabla::active_isa() == nabla::Isa::Avx512 ? nabla::Isa::Avx512 : nabla::Isa::Avx2;
  return cache[threads] = nabla_bench::measure_fma_peak(isa, threads);
}

// What both benchmarks set up from their arguments (net, batch, threads):
// the thread count, the model from a fixed seed and a random input batch.
struct Setup {
  const Net& net;
  int64_t batch;
  double peak;
  nn::Sequential model;
  Tensor x;
  explicit Setup(const benchmark::State& st)
      : net(nets()[static_cast<size_t>(st.range(0))]), batch(st.range(1)) {
    const int threads = static_cast<int>(st.range(2));
    peak = peak_gflops(threads);
    nabla::set_num_threads(threads);
    nn::manual_seed(1);
    model = nn::from_spec(nn::resolve_model(net.name), net.sample);
    std::vector<int64_t> in = {batch};
    in.insert(in.end(), net.sample.begin(), net.sample.end());
    x = Tensor::uniform(in, 0.f, 1.f, 2);
  }
};

// Training steps on a pool of 8 random batches in turn, with the weights put
// back to their initial values every 32 steps (untimed): training one fixed
// batch for thousands of steps drives the gradients into float denormals,
// which made the CNN's step 40-60% slower than the same arithmetic on
// normal numbers (lr 0: 13.4 vs 8.4 ms) — a figure of the benchmark, not of
// training.
void BM_train_step(benchmark::State& st) {
  Setup su(st);
  auto& [net, batch, peak, model, x] = su;
  constexpr int kBatches = 8, kResetEvery = 32;
  std::vector<Tensor> xs, ts;
  for (int b = 0; b < kBatches; ++b) {
    xs.push_back(b == 0 ? x : Tensor::uniform(x.shape(), 0.f, 1.f, 100 + b));
    Tensor t = Tensor::uniform(net.classes == 1 ? std::vector<int64_t>{batch, 1} : std::vector<int64_t>{batch}, 0.f,
                               static_cast<float>(net.classes == 1 ? 2 : net.classes), 200 + b);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = std::floor(t.data()[i]);
    ts.push_back(t);
  }
  std::vector<Tensor> initial;
  for (nn::Parameter* p : model.parameters()) initial.push_back(p->value.clone());
  nn::BinaryCrossEntropy bce;
  nn::SoftmaxCrossEntropy sce;
  nn::SGD opt(model.parameters(), 0.01f);
  int64_t step = 0;
  for (auto _ : st) {
    if (++step % kResetEvery == 0) {
      st.PauseTiming();
      const auto params = model.parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i]->value.copy_from(initial[i]);
      st.ResumeTiming();
    }
    const Tensor& xb = xs[static_cast<size_t>(step % kBatches)];
    const Tensor& tb = ts[static_cast<size_t>(step % kBatches)];
    opt.zero_grad();
    Tensor y = model.forward(xb);
    if (net.classes == 1) {
      benchmark::DoNotOptimize(bce.forward(y, tb));
      model.backward(bce.backward());
    } else {
      benchmark::DoNotOptimize(sce.forward(y, tb));
      model.backward(sce.backward());
    }
    opt.step();
  }
  const double iters = static_cast<double>(st.iterations());
  st.counters["samples/s"] = benchmark::Counter(iters * batch, benchmark::Counter::kIsRate);
  // floor seconds per step × iterations / elapsed = floor time / actual time
  st.counters["floor"] = benchmark::Counter(iters * net.flops.train * batch / (peak * 1e9), benchmark::Counter::kIsRate);
  st.counters["peak_GF"] = peak;
  st.SetLabel(net.name);
}

// Inference: forward alone (no copy of the output, no loss).
void BM_infer(benchmark::State& st) {
  Setup su(st);
  auto& [net, batch, peak, model, x] = su;
  for (auto _ : st) {
    Tensor y = model.forward(x);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(st.iterations());
  st.counters["samples/s"] = benchmark::Counter(iters * batch, benchmark::Counter::kIsRate);
  st.counters["floor"] = benchmark::Counter(iters * net.flops.forward * batch / (peak * 1e9), benchmark::Counter::kIsRate);
  st.counters["peak_GF"] = peak;
  st.SetLabel(net.name);
}

void args_for(benchmark::internal::Benchmark* b, int64_t first_net) {
  b->ArgNames({"net", "batch", "threads"});
  for (int64_t n = first_net; n < static_cast<int64_t>(nets().size()); ++n)
    for (int64_t batch : {1, 64, 256})
      for (int64_t threads : {1, 2}) b->Args({n, batch, threads});
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

void args(benchmark::internal::Benchmark* b) { args_for(b, 0); }
void cnn_args(benchmark::internal::Benchmark* b) { args_for(b, kFirstCnn); }

}  // namespace

BENCHMARK(BM_train_step)->Apply(args);
BENCHMARK(BM_infer)->Apply(cnn_args);
BENCHMARK_MAIN();
