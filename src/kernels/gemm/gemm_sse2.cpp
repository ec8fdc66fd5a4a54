// GEMM micro-kernels for sse2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the driver calls in through gemm_variants_sse2().
// SSE2 (every x86-64): 16 xmm registers, no FMA (xsimd emulates it with mul + add).
#include "kernels/gemm/gemm_ukernel.hpp"

namespace nabla::kernels::detail {

// Default first. Adding a tile is one line here.
static const GemmVariant kVariants[] = {
    NABLA_GEMM_VARIANT(xsimd::sse2, ::nabla::Isa::Generic, "sse2", 6, 8),
    NABLA_GEMM_VARIANT(xsimd::sse2, ::nabla::Isa::Generic, "sse2", 4, 12),
    NABLA_GEMM_VARIANT(xsimd::sse2, ::nabla::Isa::Generic, "sse2", 1, 16),  // one-row products
};

std::span<const GemmVariant> gemm_variants_sse2() { return kVariants; }

}  // namespace nabla::kernels::detail
