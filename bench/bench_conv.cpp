// Convolution benchmark: nabla against oneDNN's convolution primitives on
// the convolution layers of bench_cases.hpp, batch 64, at 1 and 2 threads,
// interleaved in one run. Passes: forward (bias + ReLU fused in both
// libraries), backward-data, backward-weights (with the bias gradient), and
// `train` = the passes one training step runs for the layer: forward +
// backward-weights, plus backward-data except for conv1 (the first layer of
// its network: nobody needs the gradient of the input images).
//
//   bench_conv --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// Two oneDNN rows per case:
//   onednn       the primitives on memory already in the formats they chose
//                (format `any`), as a oneDNN framework runs a network;
//   onednn_nchw  the same plus the reorders from/to NCHW user memory (OIHW
//                weights) that nabla never needs, since it works on NCHW.
// The summary's ratio is onednn_time / nabla_time against the first (> 1:
// nabla is faster); GFLOP/s count 2·N·C_out·C_in·kh·kw·OH·OW per pass.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "dnnl_conv.hpp"
#include "median_reporter.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/runtime/threads.hpp"

#ifdef NABLA_HAVE_DNNL
#include <omp.h>
#endif

namespace {

namespace nk = nabla::kernels;

using Layer = nabla_bench::ConvLayer;
constexpr auto& kLayers = nabla_bench::kConvLayers;

enum class Pass { Forward, BackwardData, BackwardWeights, Train };
const Pass kPasses[] = {Pass::Forward, Pass::BackwardData, Pass::BackwardWeights, Pass::Train};
const char* pass_name(Pass p) {
  switch (p) {
    case Pass::Forward: return "fwd";
    case Pass::BackwardData: return "bwd_data";
    case Pass::BackwardWeights: return "bwd_weights";
    case Pass::Train: return "train";
  }
  return "?";
}

bool runs(Pass pass, Pass part, const Layer& l) {
  if (pass == Pass::Train) return part != Pass::BackwardData || !l.first;
  return pass == part;
}

double pass_flops(const Layer& l, Pass pass) {
  const nk::ConvShape s(l.p);
  const double one = 2.0 * l.p.n * static_cast<double>(s.weights_size()) * static_cast<double>(s.col_cols());
  if (pass != Pass::Train) return one;
  return one * (l.first ? 2 : 3);
}

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

void report(benchmark::State& state, const Layer& l, Pass pass) {
  state.counters["GFLOPS"] =
      benchmark::Counter(pass_flops(l, pass) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate);
}

void BM_nabla(benchmark::State& state, Layer l, Pass pass, int threads) {
  nabla::set_num_threads(threads);
  const nk::ConvShape s(l.p);
  const int64_t n_src = l.p.n * s.src_image(), n_dst = l.p.n * s.dst_image();
  const auto src = random_vector(n_src, 1), w = random_vector(s.weights_size(), 2), b = random_vector(l.p.c_out, 3),
             dz = random_vector(n_dst, 4);
  std::vector<float> dst(n_dst), dsrc(n_src), dw(w.size()), db(b.size());
  auto step = [&] {
    if (runs(pass, Pass::Forward, l))
      nk::conv2d_forward(s, src.data(), w.data(), b.data(), nk::Activation::ReLU, dst.data());
    if (runs(pass, Pass::BackwardData, l)) nk::conv2d_backward_data(s, dz.data(), w.data(), dsrc.data());
    if (runs(pass, Pass::BackwardWeights, l))
      nk::conv2d_backward_weights(s, src.data(), dz.data(), dw.data(), db.data());
  };
  step();  // warm-up: column buffers, thread pool
  for (auto _ : state) {
    step();
    benchmark::ClobberMemory();
  }
  report(state, l, pass);
}

#ifdef NABLA_HAVE_DNNL
void BM_dnnl(benchmark::State& state, Layer l, Pass pass, int threads, bool with_reorders) {
  omp_set_num_threads(threads);
  const nk::ConvShape s(l.p);
  const auto src = random_vector(l.p.n * s.src_image(), 1), w = random_vector(s.weights_size(), 2),
             b = random_vector(l.p.c_out, 3), dz = random_vector(l.p.n * s.dst_image(), 4);
  nabla_bench::DnnlConv d(l.p, src.data(), w.data(), b.data(), dz.data());
  using DP = nabla_bench::DnnlConv::Pass;
  auto step = [&] {
    if (runs(pass, Pass::Forward, l)) d.run(DP::Forward, with_reorders);
    if (runs(pass, Pass::BackwardData, l)) d.run(DP::BackwardData, with_reorders);
    if (runs(pass, Pass::BackwardWeights, l)) d.run(DP::BackwardWeights, with_reorders);
  };
  step();  // warm-up: JIT, thread pool
  for (auto _ : state) step();
  report(state, l, pass);
}
#endif

std::string case_name(const Layer& l, Pass pass, int threads) {
  return std::string("conv/") + l.name + "/" + pass_name(pass) + "/threads:" + std::to_string(threads) + "/";
}

// Console output as usual, then a summary: per layer, pass and thread
// count, milliseconds per call of nabla and of oneDNN, and the ratio
// onednn / nabla (> 1: nabla is faster).
class SummaryReporter : public nabla_bench::MedianReporter {
 public:
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nSummary (ms per call; ratio = oneDNN / nabla, > 1 means nabla is faster; onednn: primitives "
                "alone, onednn_nchw: with reorders from/to NCHW)\n");
    std::printf("%-26s %-12s %3s %9s %9s %6s %12s %6s\n", "layer", "pass", "thr", "nabla", "onednn", "ratio",
                "onednn_nchw", "ratio");
    for (const Layer& l : kLayers)
      for (Pass pass : kPasses)
        for (int t : {1, 2}) {
          const std::string base = case_name(l, pass, t);
          auto get = [&](const std::string& lib) { return real_time(base + lib); };
          const double nb = get("nabla"), dn = get("onednn"), dr = get("onednn_nchw");
          if (std::isnan(nb)) continue;
          std::printf("%-26s %-12s %3d %9.3f %9.3f %6.2f %12.3f %6.2f\n", l.name, pass_name(pass), t, nb, dn,
                      dn / nb, dr, dr / nb);
        }
  }

};

}  // namespace

int main(int argc, char** argv) {
  for (const Layer& l : kLayers)
    for (Pass pass : kPasses)
      for (int t : {1, 2}) {
        const std::string base = case_name(l, pass, t);
        benchmark::RegisterBenchmark((base + "nabla").c_str(), BM_nabla, l, pass, t)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
#ifdef NABLA_HAVE_DNNL
        benchmark::RegisterBenchmark((base + "onednn").c_str(), BM_dnnl, l, pass, t, false)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark((base + "onednn_nchw").c_str(), BM_dnnl, l, pass, t, true)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
#endif
      }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
