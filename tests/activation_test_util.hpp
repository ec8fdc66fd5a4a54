#pragma once
// The activations every kernel test sweeps, read from the activation table:
// each kind with its default parameter, and the kinds with a parameter once
// more with another value, so that a new row of the table is tested by
// every suite that includes this (activation, GEMM epilogue, convolution,
// layers) without editing them.
#include <random>
#include <string>
#include <vector>

#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/types.hpp"

namespace nabla::test {

/// Every activation of the table (None first), with a second parameter
/// value for the kinds that have one.
inline std::vector<kernels::Activation> all_activations() {
  std::vector<kernels::Activation> v;
  for (const kernels::ActivationInfo& row : kernels::kActivations) {
    v.emplace_back(row.kind);
    if (kernels::has_param(row.kind)) v.emplace_back(row.kind, row.param_default * 2.5f + 0.05f);
  }
  return v;
}

/// The same without None.
inline std::vector<kernels::Activation> real_activations() {
  std::vector<kernels::Activation> v = all_activations();
  v.erase(v.begin());
  return v;
}

/// The values a derivative is computed from (D): the output f(z) for z
/// uniform in [lo, hi], or z itself for the kinds whose derivative uses
/// the input (kernels::derivative_uses_input).
inline std::vector<float> activation_outputs(kernels::Activation f, int64_t n, uint32_t seed, float lo = -3.f,
                                             float hi = 3.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  const bool from_z = kernels::derivative_uses_input(f.kind);
  for (auto& x : v) {
    const float z = dist(rng);
    x = from_z ? z : static_cast<float>(kernels::activation_reference(f, z));
  }
  return v;
}

/// "relu", "leakyrelu 0.075": for failure messages.
inline std::string label(kernels::Activation f) { return kernels::activation_label(f); }

}  // namespace nabla::test
