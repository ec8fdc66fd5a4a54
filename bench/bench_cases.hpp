#pragma once
// The cases the kernel benchmarks and the framework comparison share: the
// GEMM shapes of the GEMM issue and the convolution layers of the
// convolution issue (one list each, so bench_gemm, bench_conv and
// nabla_compare time the same problems).
#include <cstdint>
#include <string>

#include "kernels/conv/conv_shapes.hpp"
#include "kernels/gemm/gemm_shapes.hpp"

namespace nabla_bench {

// The GEMM shapes of the GEMM issue: the list `nabla tune` tunes on too.
using GemmShape = nabla::kernels::detail::GemmShape;
inline constexpr auto& kGemmShapes = nabla::kernels::detail::kTrainingGemmShapes;
using nabla::kernels::detail::shape_name;

// The layers of the convolution issues (kTrainingConvLayers).
using ConvLayer = nabla::kernels::detail::ConvLayer;
inline constexpr auto& kConvLayers = nabla::kernels::detail::kTrainingConvLayers;

}  // namespace nabla_bench
