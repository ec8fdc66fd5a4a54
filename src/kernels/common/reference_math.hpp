#pragma once
// The activations and their derivatives in double, for the scalar reference
// implementations of every family (GEMM epilogue, activation, convolution):
// the ref / ref_bwd of each row of the activation table (activation_math.hpp).
#include "kernels/activation/activation_math.hpp"
#include "nabla/kernels/types.hpp"

namespace nabla::kernels::detail {

/// f(z).
inline double activation_f64(Activation f, double z) {
  return with_activation(f, [&](auto op) { return op.ref(z); });
}

/// g · f'(z), with f'(z) computed from the output a = f(z).
inline double activation_backward_f64(Activation f, double g, double a) {
  return with_activation(f, [&](auto op) { return op.ref_bwd(g, a); });
}

}  // namespace nabla::kernels::detail
