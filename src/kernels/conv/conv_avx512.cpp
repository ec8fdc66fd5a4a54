// Convolution kernels (im2col, col2im) for avx512. Compiled with only this ISA's
// flags (see CMakeLists.txt); the dispatcher calls in through conv_kernels_avx512().
#include "kernels/conv/conv_kernels.hpp"

namespace nabla::kernels::detail {

static const ConvKernels kKernels = NABLA_CONV_KERNELS(xsimd::avx512f);

const ConvKernels& conv_kernels_avx512() { return kKernels; }

}  // namespace nabla::kernels::detail
