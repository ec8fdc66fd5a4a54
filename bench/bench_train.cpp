// One full training step (zero_grad, forward, loss, backward, SGD step) of
// the networks of issue 5, at batch 1, 64 and 256, 1 and 2 threads.
// Counters: samples/s, and "floor" = the fraction of the FLOP floor
// (GEMM FLOPs of the step, without the first layer's input gradient, at the
// FMA peak measured in this run for the same thread count).
//
//     ./build/bench/bench_train --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nabla/nn/layers.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/threads.hpp"
#include "peak.hpp"

namespace nn = nabla::nn;
using nabla::Tensor;

namespace {

struct Net {
  const char* name;
  std::vector<int64_t> sample;  // input shape of one sample
  int64_t classes;              // 1: sigmoid + BCE; else logits + cross-entropy
  std::function<nn::Sequential()> build;
  double flops_per_sample;      // forward + backward GEMM FLOPs
};

double dense_flops(const std::vector<std::pair<int64_t, int64_t>>& layers) {
  double f = 0;
  for (size_t i = 0; i < layers.size(); ++i)
    f += 2.0 * layers[i].first * layers[i].second * (i == 0 ? 2 : 3);  // fwd, dW (, dX)
  return f;
}

const std::vector<Net>& nets() {
  static const std::vector<Net> n = {
      {"logreg", {784}, 1, [] { return nn::Sequential().add(nn::Dense(784, 1)).add(nn::Sigmoid()); },
       dense_flops({{784, 1}})},
      {"mlp_tanh", {784}, 1,
       [] { return nn::Sequential().add(nn::Dense(784, 128)).add(nn::Tanh()).add(nn::Dense(128, 1)).add(nn::Sigmoid()); },
       dense_flops({{784, 128}, {128, 1}})},
      {"mlp_relu_softmax", {784}, 10,
       [] {
         return nn::Sequential().add(nn::Dense(784, 256)).add(nn::ReLU()).add(nn::Dense(256, 128)).add(nn::ReLU())
             .add(nn::Dense(128, 10));
       },
       dense_flops({{784, 256}, {256, 128}, {128, 10}})},
  };
  return n;
}

double peak_gflops(int threads) {
  static std::map<int, double> cache;
  auto it = cache.find(threads);
  if (it != cache.end()) return it->second;
  const nabla::Isa isa = nabla::active_isa() == nabla::Isa::Avx512 ? nabla::Isa::Avx512 : nabla::Isa::Avx2;
  return cache[threads] = nabla_bench::measure_fma_peak(isa, threads);
}

void BM_train_step(benchmark::State& st) {
  const Net& net = nets()[static_cast<size_t>(st.range(0))];
  const int64_t batch = st.range(1);
  const int threads = static_cast<int>(st.range(2));
  const double peak = peak_gflops(threads);
  nabla::set_num_threads(threads);
  nn::manual_seed(1);
  nn::Sequential model = net.build();
  std::vector<int64_t> in = {batch};
  in.insert(in.end(), net.sample.begin(), net.sample.end());
  const Tensor x = Tensor::uniform(in, 0.f, 1.f, 2);
  Tensor t = Tensor::uniform(net.classes == 1 ? std::vector<int64_t>{batch, 1} : std::vector<int64_t>{batch}, 0.f,
                             static_cast<float>(net.classes == 1 ? 2 : net.classes), 3);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = std::floor(t.data()[i]);
  nn::BinaryCrossEntropy bce;
  nn::SoftmaxCrossEntropy sce;
  nn::SGD opt(model.parameters(), 0.01f);
  for (auto _ : st) {
    opt.zero_grad();
    Tensor y = model.forward(x);
    if (net.classes == 1) {
      benchmark::DoNotOptimize(bce.forward(y, t));
      model.backward(bce.backward());
    } else {
      benchmark::DoNotOptimize(sce.forward(y, t));
      model.backward(sce.backward());
    }
    opt.step();
  }
  const double iters = static_cast<double>(st.iterations());
  st.counters["samples/s"] = benchmark::Counter(iters * batch, benchmark::Counter::kIsRate);
  // floor seconds per step × iterations / elapsed = floor time / actual time
  st.counters["floor"] = benchmark::Counter(iters * net.flops_per_sample * batch / (peak * 1e9), benchmark::Counter::kIsRate);
  st.counters["peak_GF"] = peak;
  st.SetLabel(net.name);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"net", "batch", "threads"});
  for (int64_t n = 0; n < static_cast<int64_t>(nets().size()); ++n)
    for (int64_t batch : {1, 64, 256})
      for (int64_t threads : {1, 2}) b->Args({n, batch, threads});
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_train_step)->Apply(args);
BENCHMARK_MAIN();
