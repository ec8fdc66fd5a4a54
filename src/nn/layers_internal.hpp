#pragma once
// Helpers shared by the layers with parameters (Dense, Conv2D).
#include <cstdint>

#include "nabla/nn/init.hpp"
#include "nabla/nn/parameter.hpp"

namespace nabla::nn::detail {

/// Draws weight and bias (already shaped) with a scheme: see Init.
void init_weight_bias(Parameter& weight, Parameter& bias, int64_t fan_in, int64_t fan_out,
                      Init init, uint64_t seed);

}  // namespace nabla::nn::detail
