// GEMM micro-kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the driver calls in through gemm_variants_avx512().
// AVX-512 (F/DQ/BW/VL): 32 zmm registers. Measured on the training shapes
// (bench/RESULTS.md): what limits a tile is loads per FMA (broadcasts of A
// plus vectors of B): 6x64 = 10 per 24 FMAs, 8x48 = 11/24, 8x32 = 10/16.
//   6x64  default: large problems, few rows (6-channel convolutions)
//   8x48  16-64 rows (convolutions with 16/64 output channels)
//   8x32  batch-64 dense layers with A read in place (8 row pointers fit the
//         general registers; 14 did not)
//   8x16  narrow outputs (n <= 16, e.g. 10 classes)
//   1x64  one-row products (m == 1, and n == 1 turned around by the driver:
//         logistic regression's forward and weight gradient), which every
//         taller tile would pad 6-8 fold
#include "kernels/gemm/gemm_ukernel.hpp"

namespace nabla::kernels::detail {

// Default first. Adding a tile is one line here.
static const GemmVariant kVariants[] = {
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 6, 64),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 48),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 32),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 16),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 1, 64),
};

std::span<const GemmVariant> gemm_variants_avx512() { return kVariants; }

}  // namespace nabla::kernels::detail
