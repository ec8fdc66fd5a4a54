#pragma once
// Even/odd lane shuffles of 2·W consecutive floats, shared by the per-ISA
// kernels that work on stride-2 rows (max and average pooling, the phase
// planes of a strided convolution) or zip two rows (Winograd). Included only
// by per-ISA translation units; everything is in an anonymous namespace (see
// activation_math.hpp).
#include <xsimd/xsimd.hpp>

#include <immintrin.h>

#include <cstddef>
#include <type_traits>

namespace nabla::kernels::detail {
namespace {

// (a, b) = (e0 o0 e1 o1 …): the lanes of even and odd interleaved, a the
// first W floats, b the next W (xsimd 8's zip_lo/zip_hi interleave within
// each 128-bit lane on AVX, hence the ISA's own permutes).
template <class Arch>
inline void interleave(xsimd::batch<float, Arch> even, xsimd::batch<float, Arch> odd, xsimd::batch<float, Arch>& a,
                       xsimd::batch<float, Arch>& b) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    a = _mm512_permutex2var_ps(even, il, odd);
    b = _mm512_permutex2var_ps(even, ih, odd);
    return;
  }
#endif
#ifdef __AVX2__
  if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) {
    const __m256 lo = _mm256_unpacklo_ps(even, odd);  // e0 o0 e1 o1 | e4 o4 e5 o5
    const __m256 hi = _mm256_unpackhi_ps(even, odd);  // e2 o2 e3 o3 | e6 o6 e7 o7
    a = _mm256_permute2f128_ps(lo, hi, 0x20);
    b = _mm256_permute2f128_ps(lo, hi, 0x31);
    return;
  }
#endif
  if constexpr (std::is_same_v<Arch, xsimd::sse2>) {
    a = _mm_unpacklo_ps(even, odd);
    b = _mm_unpackhi_ps(even, odd);
  } else {
    a = xsimd::zip_lo(even, odd);
    b = xsimd::zip_hi(even, odd);
  }
}

// The inverse: even = (x0 x2 x4 …), odd = (x1 x3 x5 …) of the 2·W floats
// (a, b) = (x0 … x_{W−1}, x_W … x_{2W−1}).
template <class Arch>
inline void deinterleave(xsimd::batch<float, Arch> a, xsimd::batch<float, Arch> b, xsimd::batch<float, Arch>& even,
                         xsimd::batch<float, Arch>& odd) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    even = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, io, b);
    return;
  }
#endif
#ifdef __AVX2__
  if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) {
    // shuffle gives [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute puts the a's first.
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
    return;
  }
#endif
  if constexpr (std::is_same_v<Arch, xsimd::sse2>) {
    even = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    odd = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  } else {
    constexpr std::size_t W = xsimd::batch<float, Arch>::size;
    alignas(64) float x[2 * W], e[W], o[W];
    a.store_aligned(x);
    b.store_aligned(x + W);
    for (std::size_t k = 0; k < W; ++k) {
      e[k] = x[2 * k];
      o[k] = x[2 * k + 1];
    }
    even = xsimd::batch<float, Arch>::load_aligned(e);
    odd = xsimd::batch<float, Arch>::load_aligned(o);
  }
}

}  // namespace
}  // namespace nabla::kernels::detail
