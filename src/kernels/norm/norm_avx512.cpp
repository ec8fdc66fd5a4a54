// Normalisation kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through norm_kernels_avx512().
#include "kernels/norm/norm_kernels.hpp"

namespace nabla::kernels::detail {

static const NormKernels kKernels = NABLA_NORM_KERNELS(xsimd::avx512f);

const NormKernels& norm_kernels_avx512() { return kKernels; }

}  // namespace nabla::kernels::detail
