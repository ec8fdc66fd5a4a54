// Loss kernels for avx512. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through loss_kernels_avx512().
#include "kernels/loss/loss_kernels.hpp"

namespace nabla::kernels::detail {

static const LossKernels kKernels = NABLA_LOSS_KERNELS(xsimd::avx512f);

const LossKernels& loss_kernels_avx512() { return kKernels; }

}  // namespace nabla::kernels::detail
