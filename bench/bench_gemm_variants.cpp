// Every compiled GEMM micro-kernel variant of the best ISA on the training
// shapes, one thread, through the internal gemm_run() hook: which tile wins
// where, and how the blocking moves it. Blocking overrides for experiments:
//
//   bench_gemm_variants [--mc=N] [--kc=N] [--nc=N] [google-benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/nabla.hpp"

namespace {

struct Shape {
  bool ta, tb;
  int64_t m, n, k;
};
const Shape kShapes[] = {
    {false, false, 1024, 1024, 1024}, {false, true, 64, 256, 784},   {false, true, 64, 128, 256},
    {false, true, 64, 10, 128},       {false, false, 64, 10, 128},   {true, false, 256, 784, 64},
    {false, false, 64, 784, 256},     {false, false, 6, 36864, 25},  {false, false, 16, 4096, 150},
    {false, false, 64, 50176, 288},
};

int64_t g_mc = 0, g_kc = 0, g_nc = 0;

void BM_variant(benchmark::State& state, nabla::kernels::detail::GemmVariant v, Shape s) {
  nabla::set_num_threads(1);
  nabla::GemmConfig cfg = nabla::default_gemm_config(v.isa);
  cfg.auto_tile = false;  // this variant, always
  cfg.mr = v.mr;
  cfg.nr = v.nr;
  if (g_kc) cfg.kc = g_kc;
  cfg.mc = (g_mc ? g_mc : cfg.mc) / v.mr * v.mr;
  cfg.nc = (g_nc ? g_nc : cfg.nc) / v.nr * v.nr;
  std::vector<float> a(s.m * s.k), b(s.k * s.n), c(s.m * s.n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& x : a) x = u(rng);
  for (auto& x : b) x = u(rng);
  nabla::kernels::detail::GemmArgs g;
  g.ta = s.ta;
  g.tb = s.tb;
  g.m = s.m;
  g.n = s.n;
  g.k = s.k;
  g.a = a.data();
  g.lda = s.ta ? s.m : s.k;
  g.b = b.data();
  g.ldb = s.tb ? s.k : s.n;
  g.c = c.data();
  g.ldc = s.n;
  nabla::kernels::detail::gemm_run(v, cfg, g);
  for (auto _ : state) {
    nabla::kernels::detail::gemm_run(v, cfg, g);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * s.m * s.n * s.k * state.iterations() * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(nabla::to_string(cfg));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (!std::strncmp(argv[i], "--mc=", 5)) g_mc = std::atoll(argv[i] + 5);
    else if (!std::strncmp(argv[i], "--kc=", 5)) g_kc = std::atoll(argv[i] + 5);
    else if (!std::strncmp(argv[i], "--nc=", 5)) g_nc = std::atoll(argv[i] + 5);
    else rest.push_back(argv[i]);
  }
  int rc = static_cast<int>(rest.size());
  for (const auto& v : nabla::kernels::detail::gemm_variants(nabla::cpu_info().best_isa))
    for (const Shape& s : kShapes)
      benchmark::RegisterBenchmark((std::string(v.name) + "/" + (s.ta ? "T" : "N") + (s.tb ? "T" : "N") + "/" +
                                    std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k))
                                       .c_str(),
                                   BM_variant, v, s)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&rc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
