// Loss kernels for sse2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through loss_kernels_sse2().
#include "kernels/loss/loss_kernels.hpp"

namespace nabla::kernels::detail {

static const LossKernels kKernels = NABLA_LOSS_KERNELS(xsimd::sse2);

const LossKernels& loss_kernels_sse2() { return kKernels; }

}  // namespace nabla::kernels::detail
