// Activation kernels for sse2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through activation_kernels_sse2().
#include "kernels/activation/activation_kernels.hpp"

namespace nabla::kernels::detail {

static const ActivationKernels kKernels = NABLA_ACTIVATION_KERNELS(xsimd::sse2);

const ActivationKernels& activation_kernels_sse2() { return kKernels; }

}  // namespace nabla::kernels::detail
