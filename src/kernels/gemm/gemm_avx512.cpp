// GEMM micro-kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the driver calls in through gemm_variants_avx512().
// AVX-512 (F/DQ/BW/VL): 32 zmm registers. 14x32 keeps 28 accumulators + 2 B vectors + 1 broadcast; 6x64 is the wide alternative (24 accumulators + 4 B vectors).
#include "kernels/gemm/gemm_ukernel.hpp"

namespace nabla::kernels::detail {

// Default first. Adding a tile is one line here.
static const GemmVariant kVariants[] = {
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 14, 32),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 6, 64),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 32),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 8, 48),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 12, 32),
    NABLA_GEMM_VARIANT(xsimd::avx512f, ::nabla::Isa::Avx512, "avx512", 16, 16),
};

std::span<const GemmVariant> gemm_variants_avx512() { return kVariants; }

}  // namespace nabla::kernels::detail
