#pragma once
/// \file types.hpp  Enumerations shared by the kernel families (GEMM epilogue,
/// element-wise activations, bias gradients).

namespace nabla::kernels {

/// Element-wise activation functions nabla fuses.
enum class Activation { None, ReLU, Sigmoid, Tanh };

/// Where a bias vector goes in a row-major matrix: one value per row (length
/// rows) or per column (length cols).
enum class BiasKind { None, PerRow, PerCol };

/// Name of an activation: "none", "relu", "sigmoid", "tanh".
const char* activation_name(Activation a);

}  // namespace nabla::kernels
