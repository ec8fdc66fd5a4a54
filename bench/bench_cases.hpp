#pragma once
// The cases the kernel benchmarks and the framework comparison share: the
// GEMM shapes of the GEMM issue and the convolution layers of the
// convolution issue (one list each, so bench_gemm, bench_conv and
// nabla_compare time the same problems).
#include <cstdint>
#include <string>

#include "nabla/kernels/conv.hpp"

namespace nabla_bench {

struct GemmShape {
  const char* what;
  bool ta, tb;
  int64_t m, n, k;
};

// The shapes of the GEMM issue (row-major M×N×K).
inline constexpr GemmShape kGemmShapes[] = {
    {"square", false, false, 256, 256, 256},
    {"square", false, false, 512, 512, 512},
    {"square", false, false, 1024, 1024, 1024},
    {"square", false, false, 2048, 2048, 2048},
    {"mlp_fwd", false, true, 64, 256, 784},
    {"mlp_fwd", false, true, 64, 128, 256},
    {"mlp_fwd", false, true, 64, 10, 128},
    {"mlp_nn", false, false, 64, 256, 784},
    {"mlp_nn", false, false, 64, 128, 256},
    {"mlp_nn", false, false, 64, 10, 128},
    {"mlp_wgrad", true, false, 256, 784, 64},
    {"mlp_dgrad", false, false, 64, 784, 256},
    {"conv1", false, false, 6, 36864, 25},
    {"conv2", false, false, 16, 4096, 150},
    {"conv3", false, false, 64, 50176, 288},
};

/// "mlp_fwd_NT/64x256x784"
inline std::string shape_name(const GemmShape& s) {
  return std::string(s.what) + "_" + (s.ta ? "T" : "N") + (s.tb ? "T" : "N") + "/" + std::to_string(s.m) + "x" +
         std::to_string(s.n) + "x" + std::to_string(s.k);
}

struct ConvLayer {
  const char* name;
  nabla::kernels::ConvParams p;
  bool first;  // first layer of its network: training skips backward-data
};

// The three layers of the convolution issue, batch 64.
inline constexpr ConvLayer kConvLayers[] = {
    {"conv1_1x28x28_6x5x5", {.n = 64, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5}, true},
    {"conv2_6x12x12_16x5x5", {.n = 64, .c_in = 6, .h = 12, .w = 12, .c_out = 16, .kh = 5, .kw = 5}, false},
    {"conv3_32x28x28_64x3x3p1",
     {.n = 64, .c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
     false},
};

}  // namespace nabla_bench
