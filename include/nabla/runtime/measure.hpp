#pragma once
/// \file measure.hpp  Measuring the machine's limits: the FP32 FMA peak and
/// copy/triad bandwidth at each cache level. `nabla tune` stores them in the
/// profile; `nabla prof` and the benchmarks compare kernels with them.
#include <cstdint>

#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/profile.hpp"

namespace nabla {

/// Flops and wall time of one run of the peak loop.
struct FmaRun {
  double flops = 0;
  double seconds = 0;
};

/// Runs `iters` iterations of 12 independent FMA chains (≥ FMA latency ×
/// ports on current x86 cores) on the ISA's widest vectors, on `threads`
/// threads started together (SSE2: multiply + add chains).
FmaRun run_fma_loop(Isa isa, int threads, int64_t iters);

/// FP32 peak in GFLOP/s: the best of several runs of about `seconds` in all.
double measure_fma_peak(Isa isa, int threads, double seconds = 0.3);

/// Copy and triad bandwidth over arrays totalling about `bytes` per thread,
/// each thread on its own arrays, `threads` at once: best of several runs of
/// about `seconds` in all. The returned point's bytes are the total over the
/// threads; its level is left empty.
BandwidthPoint measure_bandwidth(int64_t bytes_per_thread, int threads, double seconds = 0.2);

/// The peak at 1 and `threads` threads and bandwidth at L1, L2, L3 and DRAM
/// sizes (half of each cache per thread; DRAM: 4× the L3), about `seconds`
/// in all.
MachineLimits measure_limits(Isa isa, int threads, double seconds = 4);

}  // namespace nabla
