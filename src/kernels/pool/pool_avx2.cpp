// Pooling kernels for avx2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through pool_kernels_avx2().
#include "kernels/pool/pool_kernels.hpp"

namespace nabla::kernels::detail {

static const PoolKernels kKernels = NABLA_POOL_KERNELS(xsimd::fma3<xsimd::avx2>);

const PoolKernels& pool_kernels_avx2() { return kKernels; }

}  // namespace nabla::kernels::detail
