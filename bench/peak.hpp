#pragma once
// The machine's FP32 FMA peak, measured in the same run as the kernels it is
// compared with (nabla's runtime measure.hpp: 12 independent FMA chains per
// thread on the widest vectors the CPU runs, threads started together).
#include <cstdint>

#include "nabla/runtime/measure.hpp"

namespace nabla_bench {

/// Runs the FMA loop `iters` times on `threads` threads at once; returns GFLOP/s.
inline double measure_fma_peak(nabla::Isa isa, int threads, int64_t iters = 20'000'000) {
  const nabla::FmaRun r = nabla::run_fma_loop(isa, threads, iters);
  return r.flops / r.seconds * 1e-9;
}

}  // namespace nabla_bench
