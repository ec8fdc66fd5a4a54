// Pooling kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through pool_kernels_avx512().
#include "kernels/pool/pool_kernels.hpp"

namespace nabla::kernels::detail {

static const PoolKernels kKernels = NABLA_POOL_KERNELS(xsimd::avx512f);

const PoolKernels& pool_kernels_avx512() { return kKernels; }

}  // namespace nabla::kernels::detail
