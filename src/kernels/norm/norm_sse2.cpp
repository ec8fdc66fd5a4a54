// Normalisation kernels for sse2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through norm_kernels_sse2().
#include "kernels/norm/norm_kernels.hpp"

namespace nabla::kernels::detail {

static const NormKernels kKernels = NABLA_NORM_KERNELS(xsimd::sse2);

const NormKernels& norm_kernels_sse2() { return kKernels; }

}  // namespace nabla::kernels::detail
