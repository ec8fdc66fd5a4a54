// Convolution kernels (im2col, col2im) for sse2. Compiled with only this ISA's
// flags (see CMakeLists.txt); the dispatcher calls in through conv_kernels_sse2().
#include "kernels/conv/conv_kernels.hpp"

namespace nabla::kernels::detail {

static const ConvKernels kKernels = NABLA_CONV_KERNELS(xsimd::sse2);

const ConvKernels& conv_kernels_sse2() { return kKernels; }

}  // namespace nabla::kernels::detail
