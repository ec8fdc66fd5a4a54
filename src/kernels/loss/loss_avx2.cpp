// Loss kernels for avx2. Compiled with only this ISA's flags (see
// CMakeLists.txt); the dispatcher calls in through loss_kernels_avx2().
#include "kernels/loss/loss_kernels.hpp"

namespace nabla::kernels::detail {

static const LossKernels kKernels = NABLA_LOSS_KERNELS(xsimd::fma3<xsimd::avx2>);

const LossKernels& loss_kernels_avx2() { return kKernels; }

}  // namespace nabla::kernels::detail
