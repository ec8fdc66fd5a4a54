#pragma once
// The cases the kernel benchmarks and the framework comparison share: the
// GEMM shapes of the GEMM issue and the convolution layers of the
// convolution issue (one list each, so bench_gemm, bench_conv and
// nabla_compare time the same problems).
#include <cstdint>
#include <string>

#include "kernels/gemm/gemm_shapes.hpp"
#include "nabla/kernels/conv.hpp"

namespace nabla_bench {

// The GEMM shapes of the GEMM issue: the list `nabla tune` tunes on too.
using GemmShape = nabla::kernels::detail::GemmShape;
inline constexpr auto& kGemmShapes = nabla::kernels::detail::kTrainingGemmShapes;
using nabla::kernels::detail::shape_name;

struct ConvLayer {
  const char* name;
  nabla::kernels::ConvParams p;
  bool first;  // first layer of its network: training skips backward-data
};

// The layers of the convolution issues, batch 64: LeNet's two, the CNN's
// 32→64 3×3, a stride-2 3×3 downsampling layer (ResNet's) and a 1×1
// channel-mixing layer (a bottleneck's).
inline constexpr ConvLayer kConvLayers[] = {
    {"conv1_1x28x28_6x5x5", {.n = 64, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5}, true},
    {"conv2_6x12x12_16x5x5", {.n = 64, .c_in = 6, .h = 12, .w = 12, .c_out = 16, .kh = 5, .kw = 5}, false},
    {"conv3_32x28x28_64x3x3p1",
     {.n = 64, .c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
     false},
    {"conv4_32x28x28_64x3x3s2p1",
     {.n = 64, .c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2,
      .pad_h = 1, .pad_w = 1},
     false},
    {"conv5_64x14x14_128x1x1", {.n = 64, .c_in = 64, .h = 14, .w = 14, .c_out = 128, .kh = 1, .kw = 1}, false},
};

}  // namespace nabla_bench
