// Optimiser kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through optim_kernels_avx512().
#include "kernels/optim/optim_kernels.hpp"

namespace nabla::kernels::detail {

static const OptimKernels kKernels = NABLA_OPTIM_KERNELS(xsimd::avx512f);

const OptimKernels& optim_kernels_avx512() { return kKernels; }

}  // namespace nabla::kernels::detail
