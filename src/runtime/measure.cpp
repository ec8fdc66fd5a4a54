// The machine's limits, measured: FMA peak and copy/triad bandwidth. Compiled
// with generic flags; the ISA-specific loops carry target attributes and run
// only when the CPU has the ISA (callers pass an ISA from cpu_info()).
#include "nabla/runtime/measure.hpp"

#include <immintrin.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "nabla/error.hpp"

namespace nabla {
namespace {

using Clock = std::chrono::steady_clock;

// Named accumulators, not an array: GCC keeps arrays touched by inline asm
// in memory, which would measure store forwarding instead of the FMA units.
#define NABLA_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define NABLA_DECL(i) VEC c##i = SET1(1.0f + (i) * 1e-3f);
#define NABLA_STEP(i) c##i = STEP(c##i, a, b);
#define NABLA_SUM(i) s = ADD(s, c##i);
// 12 chains of c = c·a + b, summed at the end so nothing is dead code.
#define NABLA_LOOP(NAME, TARGET, STORE, WIDTH)                        \
  __attribute__((target(TARGET))) float NAME(int64_t iters) {         \
    NABLA_CHAINS(NABLA_DECL)                                          \
    const VEC a = SET1(0.999999f), b = SET1(1e-7f);                   \
    for (int64_t it = 0; it < iters; ++it) {                          \
      NABLA_CHAINS(NABLA_STEP)                                        \
    }                                                                 \
    VEC s = SET1(0.f);                                                \
    NABLA_CHAINS(NABLA_SUM)                                           \
    float out[WIDTH];                                                 \
    STORE(out, s);                                                    \
    return out[0] + out[WIDTH - 1];                                   \
  }
#define VEC __m512
#define SET1 _mm512_set1_ps
#define STEP _mm512_fmadd_ps
#define ADD _mm512_add_ps
NABLA_LOOP(fma_loop_avx512, "avx512f", _mm512_storeu_ps, 16)
#undef VEC
#undef SET1
#undef STEP
#undef ADD
#define VEC __m256
#define SET1 _mm256_set1_ps
#define STEP _mm256_fmadd_ps
#define ADD _mm256_add_ps
NABLA_LOOP(fma_loop_avx2, "avx2,fma", _mm256_storeu_ps, 8)
#undef VEC
#undef SET1
#undef STEP
#undef ADD
#define VEC __m128
#define SET1 _mm_set1_ps
#define STEP(c, a, b) _mm_add_ps(_mm_mul_ps(c, a), b)
#define ADD _mm_add_ps
NABLA_LOOP(fma_loop_sse2, "sse2", _mm_storeu_ps, 4)
#undef VEC
#undef SET1
#undef STEP
#undef ADD
#undef NABLA_LOOP
#undef NABLA_DECL
#undef NABLA_STEP
#undef NABLA_SUM
#undef NABLA_CHAINS

double flops_per_iter(Isa isa) {
  const int width = isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 4;
  return 12.0 * width * 2;
}

// Runs body(t) on `threads` threads released together; returns the wall time
// from the release to the last thread's end.
template <class Body>
double run_together(int threads, Body body) {
  std::barrier start(threads);
  std::vector<std::thread> pool;
  Clock::time_point t0;
  auto run = [&](int t) {
    start.arrive_and_wait();
    if (t == 0) t0 = Clock::now();
    body(t);
  };
  for (int t = 1; t < threads; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The triad, cloned per ISA (the file is compiled with generic flags; an
// SSE2 loop would under-report L1 bandwidth by 4x on AVX-512 machines).
__attribute__((target_clones("avx512f", "avx2", "default"))) void triad_loop(float* __restrict a,
                                                                          const float* __restrict b,
                                                                          const float* __restrict c, int64_t n,
                                                                          int64_t reps) {
  for (int64_t r = 0; r < reps; ++r) {
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
    __asm__ volatile("" ::: "memory");
  }
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

}  // namespace

FmaRun run_fma_loop(Isa isa, int threads, int64_t iters) {
  if (threads < 1 || iters < 1) throw Error("run_fma_loop: threads and iterations must be positive");
  if (isa > cpu_info().best_isa) throw Error(std::string("run_fma_loop: this CPU lacks ") + isa_name(isa));
  volatile float sink = 0;
  const double s = run_together(threads, [&](int) {
    const float r = isa == Isa::Avx512 ? fma_loop_avx512(iters) : isa == Isa::Avx2 ? fma_loop_avx2(iters)
                                                                                    : fma_loop_sse2(iters);
    sink = r;
  });
  (void)sink;
  return {flops_per_iter(isa) * static_cast<double>(iters) * threads, s};
}

double measure_fma_peak(Isa isa, int threads, double seconds) {
  // Calibrate on a short run, then take the best of 5.
  const FmaRun probe = run_fma_loop(isa, threads, 100'000);
  const double rate = probe.flops / std::max(probe.seconds, 1e-6) / threads;  // per thread
  const auto iters = static_cast<int64_t>(std::max(1e5, rate * seconds / 5 / flops_per_iter(isa)));
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const FmaRun run = run_fma_loop(isa, threads, iters);
    best = std::max(best, run.flops / run.seconds * 1e-9);
  }
  return best;
}

BandwidthPoint measure_bandwidth(int64_t bytes_per_thread, int threads, double seconds) {
  if (threads < 1 || bytes_per_thread < 192) throw Error("measure_bandwidth: need threads >= 1 and >= 192 bytes");
  // Triad uses three arrays of n floats; copy the first two.
  const int64_t n = std::max<int64_t>(16, bytes_per_thread / 3 / 4 / 16 * 16);
  std::vector<std::unique_ptr<float, AlignedFree>> mem;
  for (int t = 0; t < 3 * threads; ++t) {
    auto* p = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * 4));
    if (!p) throw std::bad_alloc();
    for (int64_t i = 0; i < n; ++i) p[i] = 1.f + static_cast<float>(i % 7);
    mem.emplace_back(p);
  }
  auto copy = [&](int t, int64_t reps) {
    float* a = mem[3 * t].get();
    const float* b = mem[3 * t + 1].get();
    for (int64_t r = 0; r < reps; ++r) {
      std::memcpy(a, b, static_cast<size_t>(n) * 4);
      __asm__ volatile("" ::: "memory");
    }
  };
  auto triad = [&](int t, int64_t reps) { triad_loop(mem[3 * t].get(), mem[3 * t + 1].get(), mem[3 * t + 2].get(), n, reps); };
  auto best_rate = [&](auto kernel, double bytes_per_rep) {
    const double probe = run_together(threads, [&](int t) { kernel(t, 1); });
    const auto reps = static_cast<int64_t>(std::clamp(seconds / 10 / std::max(probe, 1e-7), 1.0, 1e7));
    double best = 0;
    for (int trial = 0; trial < 5; ++trial) {
      const double s = run_together(threads, [&](int t) { kernel(t, reps); });
      best = std::max(best, bytes_per_rep * static_cast<double>(reps) * threads / s * 1e-9);
    }
    return best;
  };
  BandwidthPoint p;
  p.bytes = 3 * n * 4 * threads;
  p.copy_gbs = best_rate(copy, 2.0 * n * 4);
  p.triad_gbs = best_rate(triad, 3.0 * n * 4);
  return p;
}

MachineLimits measure_limits(Isa isa, int threads, double seconds) {
  const CpuInfo& c = cpu_info();
  MachineLimits l;
  l.threads = threads;
  l.peak_gflops_1 = measure_fma_peak(isa, 1, seconds * 0.1);
  l.peak_gflops_all = threads > 1 ? measure_fma_peak(isa, threads, seconds * 0.1) : l.peak_gflops_1;
  struct Level {
    const char* name;
    int64_t bytes;  // per thread
  };
  const int64_t l3_share = c.l3_bytes / std::max(1, threads);
  std::vector<Level> levels = {{"L1", c.l1d_bytes / 2}, {"L2", c.l2_bytes / 2}};
  if (c.l3_bytes > 0) levels.push_back({"L3", std::max(c.l2_bytes * 2, l3_share / 2)});
  levels.push_back({"DRAM", std::max<int64_t>(int64_t{64} << 20, 4 * std::max(c.l3_bytes, c.l2_bytes)) / threads});
  const double each = seconds * 0.8 / (2.0 * static_cast<double>(levels.size()));
  for (const Level& lv : levels) {
    BandwidthPoint one = measure_bandwidth(lv.bytes, 1, each);
    one.level = lv.name;
    l.bandwidth_1.push_back(one);
    BandwidthPoint all = threads > 1 ? measure_bandwidth(lv.bytes, threads, each) : one;
    all.level = lv.name;
    l.bandwidth_all.push_back(all);
  }
  return l;
}

}  // namespace nabla
