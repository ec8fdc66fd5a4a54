#pragma once
// For register-blocked kernels (GEMM micro-tiles, direct convolution): a
// loop with a constant trip count over a block of accumulators is fully
// unrolled (NABLA_UNROLL), so the accumulators live in registers; and
// one fused multiply-add per lane, always. xsimd 8's fma() for AVX-512 is
// the generic x*y + z, which becomes a vfmadd only through GCC's
// -ffp-contract=fast, and where a second product sits nearby (beta·C +
// alpha·acc) the compiler may fuse either one: two instantiations of the
// same template then round differently (seen: the 8x16 tile reading A in
// place disagreed with every other tile in the last bit). The intrinsic is
// opaque to that rewriting. AVX2's fma3 and SSE2 (no FMA: multiply + add)
// go through xsimd, which is exact there.
#include <immintrin.h>
#include <xsimd/xsimd.hpp>

#include <type_traits>

#define NABLA_UNROLL _Pragma("GCC unroll 64")

namespace nabla::kernels {
namespace {

template <class Arch>
inline xsimd::batch<float, Arch> fmadd(xsimd::batch<float, Arch> a, xsimd::batch<float, Arch> b,
                                       xsimd::batch<float, Arch> c) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) return _mm512_fmadd_ps(a, b, c);
#endif
  return xsimd::fma(a, b, c);
}

}  // namespace
}  // namespace nabla::kernels
