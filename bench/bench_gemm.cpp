// SGEMM benchmark: nabla against OpenBLAS (cblas_sgemm) and oneDNN
// (dnnl_sgemm) at the shapes training uses, plus the machine's FMA peak,
// all in one run. Each case reports GFLOP/s; the summary at the end gives
// each peer's rate as a ratio to nabla's and nabla's share of the peak.
//
//   bench_gemm --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// OpenBLAS reads OPENBLAS_CORETYPE at load time, and the machine's
// environment sets it to Haswell (half speed on AVX-512 CPUs): this program
// re-executes itself without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE so the
// peer runs its best kernel (it says so on stderr).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nabla/nabla.hpp"
#include "bench_cases.hpp"
#include "median_reporter.hpp"
#include "peak.hpp"
#include "peer_env.hpp"

#ifdef NABLA_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef NABLA_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#endif

namespace {

using nabla::kernels::Trans;

using Shape = nabla_bench::GemmShape;
using nabla_bench::shape_name;
constexpr auto& kShapes = nabla_bench::kGemmShapes;

struct Buffers {
  std::vector<float> a, b, c;
  int64_t lda, ldb, ldc;
  explicit Buffers(const Shape& s) {
    lda = s.ta ? s.m : s.k;
    ldb = s.tb ? s.k : s.n;
    ldc = s.n;
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    a.resize(static_cast<size_t>(s.m * s.k));
    b.resize(static_cast<size_t>(s.k * s.n));
    c.resize(static_cast<size_t>(s.m * s.n));
    for (auto& x : a) x = u(rng);
    for (auto& x : b) x = u(rng);
  }
};

enum class Lib { Nabla, OpenBlas, Dnnl };
const char* lib_name(Lib l) { return l == Lib::Nabla ? "nabla" : l == Lib::OpenBlas ? "openblas" : "onednn"; }

void set_threads(Lib lib, int threads) {
  switch (lib) {
    case Lib::Nabla: nabla::set_num_threads(threads); break;
    case Lib::OpenBlas:
#ifdef NABLA_HAVE_OPENBLAS
      openblas_set_num_threads(threads);
#endif
      break;
    case Lib::Dnnl:
#ifdef NABLA_HAVE_DNNL
      omp_set_num_threads(threads);
#endif
      break;
  }
}

void run_once(Lib lib, const Shape& s, Buffers& buf) {
  switch (lib) {
    case Lib::Nabla:
      nabla::kernels::gemm(s.ta ? Trans::Yes : Trans::No, s.tb ? Trans::Yes : Trans::No, s.m, s.n, s.k, 1.f,
                           buf.a.data(), buf.lda, buf.b.data(), buf.ldb, 0.f, buf.c.data(), buf.ldc);
      break;
    case Lib::OpenBlas:
#ifdef NABLA_HAVE_OPENBLAS
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.f, buf.a.data(),
                  static_cast<int>(buf.lda), buf.b.data(), static_cast<int>(buf.ldb), 0.f, buf.c.data(),
                  static_cast<int>(buf.ldc));
#endif
      break;
    case Lib::Dnnl:
#ifdef NABLA_HAVE_DNNL
      dnnl_sgemm(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.m, s.n, s.k, 1.f, buf.a.data(), buf.lda, buf.b.data(),
                 buf.ldb, 0.f, buf.c.data(), buf.ldc);
#endif
      break;
  }
}

void BM_gemm(benchmark::State& state, Lib lib, Shape s, int threads) {
  Buffers buf(s);
  set_threads(lib, threads);
  run_once(lib, s, buf);  // warm-up: packing buffers, thread pools
  for (auto _ : state) {
    run_once(lib, s, buf);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * s.m * s.n * s.k * state.iterations() * 1e-9,
                                                benchmark::Counter::kIsRate);
}

void BM_peak(benchmark::State& state, int threads) {
  const nabla::Isa isa = nabla::cpu_info().best_isa >= nabla::Isa::Avx512 ? nabla::Isa::Avx512 : nabla::Isa::Avx2;
  constexpr int64_t kIters = 2'000'000;
  double flops = 0;
  for (auto _ : state) {
    flops += nabla::run_fma_loop(isa, threads, kIters).flops;
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
}

// Console output as usual, then a summary table: per shape and thread
// count, nabla's GFLOP/s, its share of the same-run FMA peak, and each
// peer's GFLOP/s with the ratio nabla / peer (> 1: nabla is faster).
class SummaryReporter : public nabla_bench::MedianReporter {
 public:
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nSummary (GFLOP/s; ratio = nabla / peer, > 1 means nabla is faster; %%peak of the same-run FMA peak)\n");
    std::printf("%-34s %3s %8s %6s %9s %6s %9s %6s\n", "shape", "thr", "nabla", "%peak", "openblas", "ratio",
                "onednn", "ratio");
    for (const Shape& s : kShapes) {
      for (int t : {1, 2}) {
        const std::string base = "gemm/" + shape_name(s) + "/threads:" + std::to_string(t) + "/";
        auto get = [&](const std::string& lib) { return counter(base + lib, "GFLOPS"); };
        const double nb = get("nabla");
        if (std::isnan(nb)) continue;
        const double ob = get("openblas"), dn = get("onednn"), pk = peak(t);
        std::printf("%-34s %3d %8.1f %5.0f%% %9.1f %6.2f %9.1f %6.2f\n", shape_name(s).c_str(), t, nb,
                    100 * nb / pk, ob, nb / ob, dn, nb / dn);
      }
    }
  }

 private:
  double peak(int t) const { return counter("peak/fma/threads:" + std::to_string(t), "GFLOPS"); }
};

}  // namespace

int main(int argc, char** argv) {
  nabla_bench::reexec_with_peer_env(argv, "bench_gemm", false);
  for (int t : {1, 2})
    benchmark::RegisterBenchmark(("peak/fma/threads:" + std::to_string(t)).c_str(), BM_peak, t)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  std::vector<Lib> libs = {Lib::Nabla};
#ifdef NABLA_HAVE_OPENBLAS
  libs.push_back(Lib::OpenBlas);
#endif
#ifdef NABLA_HAVE_DNNL
  libs.push_back(Lib::Dnnl);
#endif
  for (const Shape& s : kShapes)
    for (int t : {1, 2})
      for (Lib lib : libs)
        benchmark::RegisterBenchmark(
            ("gemm/" + shape_name(s) + "/threads:" + std::to_string(t) + "/" + lib_name(lib)).c_str(), BM_gemm,
            lib, s, t)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
