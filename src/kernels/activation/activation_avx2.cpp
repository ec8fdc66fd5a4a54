// Activation kernels for avx2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through activation_kernels_avx2().
#include "kernels/activation/activation_kernels.hpp"

namespace nabla::kernels::detail {

static const ActivationKernels kKernels = NABLA_ACTIVATION_KERNELS(xsimd::fma3<xsimd::avx2>);

const ActivationKernels& activation_kernels_avx2() { return kKernels; }

}  // namespace nabla::kernels::detail
