#pragma once
// The machine's FP32 FMA peak, measured in the same run as the kernels it is
// compared with: 12 independent accumulator chains (≥ FMA latency × ports on
// current x86 cores) of vfmadd on the widest vectors the CPU runs, one chain
// set per thread, threads started together.
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "nabla/runtime/cpu.hpp"

namespace nabla_bench {

// Named accumulators (not an array: GCC keeps arrays touched by inline asm
// in memory, which measures store forwarding instead of the FMA units).
#define NABLA_FMA_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define NABLA_DECL(i) VEC c##i = SET1(1.0f + (i) * 1e-3f);
#define NABLA_STEP(i) c##i = FMA(c##i, a, b);
#define NABLA_SUM(i) s = ADD(s, c##i);
// One loop per ISA: 12 chains of c = c·a + b, summed at the end so nothing
// is dead code.
#define NABLA_FMA_LOOP(NAME, TARGET, VEC, SET1, FMA, ADD, STORE, WIDTH)  \
  __attribute__((target(TARGET))) inline float NAME(int64_t iters) {     \
    NABLA_FMA_CHAINS(NABLA_DECL)                                         \
    const VEC a = SET1(0.999999f), b = SET1(1e-7f);                      \
    for (int64_t it = 0; it < iters; ++it) {                             \
      NABLA_FMA_CHAINS(NABLA_STEP)                                       \
    }                                                                    \
    VEC s = SET1(0.f);                                                   \
    NABLA_FMA_CHAINS(NABLA_SUM)                                          \
    float out[WIDTH];                                                    \
    STORE(out, s);                                                       \
    return out[0] + out[WIDTH - 1];                                      \
  }
#define VEC __m512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
NABLA_FMA_LOOP(fma_loop_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
               _mm512_storeu_ps, 16)
#undef VEC
#undef SET1
#undef FMA
#undef ADD
#define VEC __m256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
NABLA_FMA_LOOP(fma_loop_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
               _mm256_storeu_ps, 8)
#undef VEC
#undef SET1
#undef FMA
#undef ADD
#undef NABLA_FMA_LOOP
#undef NABLA_DECL
#undef NABLA_STEP
#undef NABLA_SUM
#undef NABLA_FMA_CHAINS

/// Flops per iteration of the loop for an ISA.
inline double fma_flops_per_iter(nabla::Isa isa) {
  return isa == nabla::Isa::Avx512 ? 12.0 * 16 * 2 : 12.0 * 8 * 2;
}

/// Runs the FMA loop on `threads` threads at once; returns GFLOP/s.
inline double measure_fma_peak(nabla::Isa isa, int threads, int64_t iters = 20'000'000) {
  auto body = [isa, iters] {
    volatile float sink = isa == nabla::Isa::Avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
    (void)sink;
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(body);
  body();
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return fma_flops_per_iter(isa) * static_cast<double>(iters) * threads / s * 1e-9;
}

}  // namespace nabla_bench
