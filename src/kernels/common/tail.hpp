#pragma once
// Loads and stores of part of a vector, shared by the per-ISA kernels (GEMM
// edge tiles, convolution rows, ...). Included only by per-ISA translation
// units; everything is in an anonymous namespace (see activation_math.hpp).
#include <xsimd/xsimd.hpp>

#include <immintrin.h>

#include <cstdint>

namespace nabla::kernels::detail {
namespace {

// Part of a vector: the first n lanes (0 < n < size), or the lanes
// [lo, hi) with the others zero (0 <= lo < hi <= size; p[l] is read only
// for those lanes, so p itself may point before or past the array). Masked
// on AVX-512 and AVX2, through a small buffer on SSE2, so the short pieces
// of a row run the same vector code as the rest. kCheap: a masked load
// costs about a plain one (n may then also be the full size), so a loop
// may load every vector masked instead of peeling its last one.
template <class Arch>
struct Tail {
  using B = xsimd::batch<float, Arch>;
  static constexpr bool kCheap = false;
  static B load_range(const float* p, int64_t lo, int64_t hi) {
    alignas(64) float t[B::size] = {};
    for (int64_t l = lo; l < hi; ++l) t[l] = p[l];
    return B::load_aligned(t);
  }
  static B load(const float* p, int64_t n) { return load_range(p, 0, n); }
  static void store(float* p, int64_t n, B x) {
    alignas(64) float t[B::size];
    x.store_aligned(t);
    for (int64_t l = 0; l < n; ++l) p[l] = t[l];
  }
};
#ifdef __AVX512F__
template <>
struct Tail<xsimd::avx512f> {
  using B = xsimd::batch<float, xsimd::avx512f>;
  static constexpr bool kCheap = true;
  static __mmask16 mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
  static B load_range(const float* p, int64_t lo, int64_t hi) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask(hi) & ~mask(lo)), p);
  }
  static B load(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(float* p, int64_t n, B x) { _mm512_mask_storeu_ps(p, mask(n), x); }
};
#endif
#ifdef __AVX2__
template <>
struct Tail<xsimd::fma3<xsimd::avx2>> {
  using B = xsimd::batch<float, xsimd::fma3<xsimd::avx2>>;
  static constexpr bool kCheap = true;
  static __m256i mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static B load_range(const float* p, int64_t lo, int64_t hi) {
    return _mm256_maskload_ps(p, _mm256_andnot_si256(mask(lo), mask(hi)));
  }
  static B load(const float* p, int64_t n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store(float* p, int64_t n, B x) { _mm256_maskstore_ps(p, mask(n), x); }
};
#endif

}  // namespace
}  // namespace nabla::kernels::detail
