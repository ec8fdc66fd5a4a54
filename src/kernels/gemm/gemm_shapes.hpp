#pragma once
// The GEMM shapes of training (the GEMM issue's benchmark set): the one list
// bench_gemm measures against the peers and `nabla tune` tunes on.
#include <cstdint>
#include <string>

namespace nabla::kernels::detail {

struct GemmShape {
  const char* what;  ///< where it comes from
  bool ta, tb;       ///< op(A) = Aᵀ, op(B) = Bᵀ
  int64_t m, n, k;   ///< row-major M×N×K
};

inline constexpr GemmShape kTrainingGemmShapes[] = {
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

/// "mlp_fwd_NT/64x256x784".
inline std::string shape_name(const GemmShape& s) {
  return std::string(s.what) + "_" + (s.ta ? "T" : "N") + (s.tb ? "T" : "N") + "/" + std::to_string(s.m) + "x" +
         std::to_string(s.n) + "x" + std::to_string(s.k);
}

}  // namespace nabla::kernels::detail
