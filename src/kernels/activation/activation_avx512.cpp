// Activation kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through activation_kernels_avx512().
#include "kernels/activation/activation_kernels.hpp"

namespace nabla::kernels::detail {

static const ActivationKernels kKernels = NABLA_ACTIVATION_KERNELS(xsimd::avx512f);

const ActivationKernels& activation_kernels_avx512() { return kKernels; }

}  // namespace nabla::kernels::detail
