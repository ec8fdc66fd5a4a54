// Optimiser kernels for avx2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through optim_kernels_avx2().
#include "kernels/optim/optim_kernels.hpp"

namespace nabla::kernels::detail {

static const OptimKernels kKernels = NABLA_OPTIM_KERNELS(xsimd::fma3<xsimd::avx2>);

const OptimKernels& optim_kernels_avx2() { return kKernels; }

}  // namespace nabla::kernels::detail
