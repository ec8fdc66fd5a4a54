// GEMM micro-kernels for avx2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the driver calls in through gemm_variants_avx2().
// AVX2 + FMA3: 16 ymm registers. 6x16 keeps 12 accumulators + 2 B vectors + 1 broadcast; 4x24 is the wide alternative (12 accumulators + 3 B vectors); 1x32 is for one-row products (m == 1, or n == 1 turned around).
#include "kernels/gemm/gemm_ukernel.hpp"

namespace nabla::kernels::detail {

// Default first. Adding a tile is one line here.
static const GemmVariant kVariants[] = {
    NABLA_GEMM_VARIANT(xsimd::fma3<xsimd::avx2>, ::nabla::Isa::Avx2, "avx2", 6, 16),
    NABLA_GEMM_VARIANT(xsimd::fma3<xsimd::avx2>, ::nabla::Isa::Avx2, "avx2", 4, 24),
    NABLA_GEMM_VARIANT(xsimd::fma3<xsimd::avx2>, ::nabla::Isa::Avx2, "avx2", 1, 32),
};

std::span<const GemmVariant> gemm_variants_avx2() { return kVariants; }

}  // namespace nabla::kernels::detail
