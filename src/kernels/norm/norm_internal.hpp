#pragma once
// Internal interface between the normalisation dispatcher (norm.cpp,
// generic flags) and the per-ISA kernels (norm_<isa>.cpp). Nothing here
// includes xsimd.
#include <cstdint>

#include "nabla/kernels/norm.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The dropout hash: one round of the "lowbias32" integer mixer (Wellons),
/// a bijection of 32-bit words with full avalanche, on the element pair's
/// index keyed by the call key's two halves folded together. (Two rounds,
/// keyed one half each, cost twice the 32-bit multiplies, which bound the
/// vector kernel: 38–66% of copy bandwidth.) The keys are SplitMix64 outputs
/// (dropout_key), so two calls' masks are the fixed sequence lowbias32(·)
/// read at index sets j ^ k that, for tensors far below 2^32 pairs, overlap
/// only by chance.
inline uint32_t dropout_hash(uint64_t key, uint32_t j) {
  uint32_t x = j ^ static_cast<uint32_t>(key) ^ static_cast<uint32_t>(key >> 32);
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/// Each hash decides two elements by its 16-bit halves: in a block of 32
/// elements, hash 16·block + l (l < 16) gives element 32·block + l its low
/// half and element 32·block + 16 + l its high half (a layout that does not
/// depend on the vector width, so every ISA draws the same mask).
inline uint32_t dropout_bits(uint64_t key, uint64_t i) {
  const uint32_t h = dropout_hash(key, static_cast<uint32_t>(i / 32 * 16 + i % 16));
  return (i / 16) % 2 ? h >> 16 : h & 0xFFFFu;
}

/// round(p·2^16): element kept when its 16 bits are >= this (p is in effect
/// rounded to a multiple of 2^-16).
inline uint32_t dropout_threshold(float p) { return static_cast<uint32_t>(static_cast<double>(p) * 65536.0 + 0.5); }

/// The normalisation kernels for one ISA, over channels [c0, c1) (the
/// reductions) or rows [r0, r1) of the [n·c, hw] / [n, c] view (the
/// element-wise passes), on the calling thread.
struct NormKernels {
  void (*stats)(const NormShape& s, int64_t c0, int64_t c1, const float* x, double* mean, double* var);
  /// residual: null, or an addend of x's layout (y = act(x·scale + shift + residual)).
  void (*apply)(const NormShape& s, int64_t r0, int64_t r1, const float* x, const float* scale, const float* shift,
                Activation act, const float* residual, float* y);
  /// y null: act's derivative from the sign of fma(x, scale, shift) (see
  /// batchnorm_backward_reduce); else scale and shift unused.
  void (*bwd_reduce)(const NormShape& s, int64_t c0, int64_t c1, const float* dy, const float* y, Activation act,
                     const float* x, const float* mean, const float* scale, const float* shift, double* sum_dz,
                     double* sum_dzx);
  void (*bwd_apply)(const NormShape& s, int64_t r0, int64_t r1, const float* dy, const float* y, Activation act,
                    const float* x, const float* mean, const float* scale, const float* shift, const float* k_dz,
                    const float* k_x, const float* k_0, float* dx);
  /// Elements [i0, i1), i0 a multiple of 32.
  void (*dropout)(int64_t i0, int64_t i1, const float* src, uint32_t threshold, float scale, uint64_t key, float* dst);
};

// Defined in norm_<isa>.cpp.
const NormKernels& norm_kernels_avx512();
const NormKernels& norm_kernels_avx2();
const NormKernels& norm_kernels_sse2();

/// The kernels for an ISA.
const NormKernels& norm_kernels(Isa isa);

}  // namespace nabla::kernels::detail
