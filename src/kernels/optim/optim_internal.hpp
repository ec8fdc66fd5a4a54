#pragma once
// Internal interface between the optimiser dispatcher (optim.cpp, generic
// flags) and the per-ISA kernels (optim_<isa>.cpp). Nothing here includes
// xsimd.
#include <cstdint>

#include "nabla/kernels/optim.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// Adam's per-step scalars, computed once in double by the dispatcher as
/// torch.optim.Adam does, then rounded to float.
struct AdamStep {
  float beta1, beta2, eps, weight_decay;
  float step_size;  ///< lr / (1 − β1^step)
  float bc2_sqrt;   ///< sqrt(1 − β2^step)
  float param_scale = 1.f;  ///< AdamW: 1 − lr·weight_decay (weight_decay is then 0)
  bool decoupled = false;   ///< AdamW: param ·= param_scale first (when not 1), v's products rounded apart
};

/// The optimiser kernels for one ISA, over a sub-range on the calling thread.
struct OptimKernels {
  void (*sgd)(int64_t n, float* param, const float* grad, float* momentum_buf, const SgdParams& hp,
              bool first_step);
  void (*adam)(int64_t n, float* param, const float* grad, float* m, float* v, const AdamStep& s);
  void (*rmsprop)(int64_t n, float* param, const float* grad, float* square_avg, float* momentum_buf,
                  const RmspropParams& hp);
  double (*sum_squares)(int64_t n, const float* src);
  void (*scale)(int64_t n, float* dst, float s);
};

// Defined in optim_<isa>.cpp.
const OptimKernels& optim_kernels_avx512();
const OptimKernels& optim_kernels_avx2();
const OptimKernels& optim_kernels_sse2();

/// The kernels for an ISA.
const OptimKernels& optim_kernels(Isa isa);

}  // namespace nabla::kernels::detail
