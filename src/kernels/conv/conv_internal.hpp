#pragma once
// Internal interface between the convolution dispatcher (conv.cpp, generic
// flags) and the per-ISA kernels (conv_<isa>.cpp). Nothing here includes
// xsimd, and the kernels see only the plain ConvParams (no member function
// of the public header is compiled with an ISA's flags).
#include <cstdint>

#include "nabla/kernels/conv.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The convolution family's kernels for one ISA. Each works on one image on
/// the calling thread; the dispatcher validates and splits.
struct ConvKernels {
  /// [C_in, H, W] → [C_in·kh·kw, OH·OW] (see nabla::kernels::im2col).
  void (*im2col)(const ConvParams& p, int64_t oh, int64_t ow, const float* src, float* col);
  /// [C_in·kh·kw, OH·OW] → [C_in, H, W], overwriting dst; then, when f is
  /// not None, each finished channel plane is multiplied by f'(·) computed
  /// from act (same layout as dst).
  void (*col2im)(const ConvParams& p, int64_t oh, int64_t ow, const float* col, float* dst, Activation f,
                 const float* act);
};

// Defined in conv_<isa>.cpp.
const ConvKernels& conv_kernels_avx512();
const ConvKernels& conv_kernels_avx2();
const ConvKernels& conv_kernels_sse2();

/// The kernels for an ISA.
const ConvKernels& conv_kernels(Isa isa);

}  // namespace nabla::kernels::detail
