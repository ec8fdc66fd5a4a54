#pragma once
// Internal interface between the pooling dispatcher (pool.cpp, generic
// flags) and the per-ISA kernels (pool_<isa>.cpp). Nothing here includes
// xsimd.
#include <cstdint>

#include "nabla/kernels/pool.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The pooling family's kernels for one ISA, over `planes` consecutive H×W
/// planes (p.n and p.c are ignored) on the calling thread.
struct PoolKernels {
  void (*max_forward)(const MaxPool2d& p, int64_t planes, const float* src, float* dst, int32_t* idx);
  /// f: the derivative fused from dst (see max_pool2d_backward); None
  /// ignores dst.
  void (*max_backward)(const MaxPool2d& p, int64_t planes, const float* diff_dst, const int32_t* idx,
                       float* diff_src, Activation f, const float* dst);
  void (*avg_forward)(const AvgPool2d& p, int64_t planes, const float* src, float* dst);
  void (*avg_backward)(const AvgPool2d& p, int64_t planes, const float* diff_dst, float* diff_src);
  void (*gap_forward)(int64_t planes, int64_t plane, const float* src, float* dst);
  void (*gap_backward)(int64_t planes, int64_t plane, const float* diff_dst, float* diff_src);
};

// Defined in pool_<isa>.cpp.
const PoolKernels& pool_kernels_avx512();
const PoolKernels& pool_kernels_avx2();
const PoolKernels& pool_kernels_sse2();

/// The kernels for an ISA.
const PoolKernels& pool_kernels(Isa isa);

}  // namespace nabla::kernels::detail
