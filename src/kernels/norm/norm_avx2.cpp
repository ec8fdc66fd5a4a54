// Normalisation kernels for avx2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through norm_kernels_avx2().
#include "kernels/norm/norm_kernels.hpp"

namespace nabla::kernels::detail {

static const NormKernels kKernels = NABLA_NORM_KERNELS(xsimd::fma3<xsimd::avx2>);

const NormKernels& norm_kernels_avx2() { return kKernels; }

}  // namespace nabla::kernels::detail
