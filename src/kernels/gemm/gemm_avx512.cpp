// GEMM micro-kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the driver calls in through gemm_variants_avx512().
// AVX-512 (F/DQ/BW/VL): 32 zmm registers. 14x32 keeps 28 accumulators + 2 B
// vectors + 1 broadcast (large packed problems); 8x32 and 8x48 suit the
// batch-64 shapes of training (64 rows, A read in place: 8 row pointers fit
// the general registers, 14 do not); 6x64 suits few rows (convolutions with
// 6 output channels); 8x16 suits narrow outputs (n <= 16, e.g. 10 classes).
#include "kernels/gemm/gemm_ukernel.hpp"

namespace nabla::kernels::detail {

// Default first. Adding a tile is one line here.
static const GemmVariant kVariants[] = {
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 14, 32),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 32),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 6, 64),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 48),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 16),
};

std::span<const GemmVariant> gemm_variants_avx512() { return kVariants; }

}  // namespace nabla::kernels::detail
