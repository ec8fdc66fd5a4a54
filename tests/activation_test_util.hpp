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

/// Values an activation's output takes: f(z) for z uniform in [lo, hi] (the
/// stored outputs a derivative is computed from).
inline std::vector<float> activation_outputs(kernels::Activation f, int64_t n, uint32_t seed, float lo = -3.f,
                                             float hi = 3.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(kernels::activation_reference(f, dist(rng)));
  return v;
}

/// "relu", "leakyrelu 0.075": for failure messages.
inline std::string label(kernels::Activation f) { return kernels::activation_label(f); }

}  // namespace nabla::test
