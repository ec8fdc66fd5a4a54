#pragma once
// The activations and their derivatives in double, for the scalar reference
// implementations of every family (GEMM epilogue, activation, convolution):
// one definition, written for clarity. Generic code, no SIMD.
#include <cmath>

#include "nabla/kernels/types.hpp"

namespace nabla::kernels::detail {

/// f(z).
inline double activation_f64(Activation f, double z) {
  switch (f) {
    case Activation::ReLU: return z < 0 ? 0 : z;
    case Activation::Sigmoid: return 1 / (1 + std::exp(-z));
    case Activation::Tanh: return std::tanh(z);
    case Activation::None: break;
  }
  return z;
}

/// g · f'(z), with f'(z) computed from the output a = f(z). ReLU selects
/// (g where a > 0, else exactly 0, even for a NaN g), as the kernels do.
inline double activation_backward_f64(Activation f, double g, double a) {
  switch (f) {
    case Activation::ReLU: return a > 0 ? g : 0;
    case Activation::Sigmoid: return g * (a * (1 - a));
    case Activation::Tanh: return g * ((1 - a) * (1 + a));
    case Activation::None: break;
  }
  return g;
}

}  // namespace nabla::kernels::detail
