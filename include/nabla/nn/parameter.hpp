#pragma once
/// \file parameter.hpp  A trainable tensor and its gradient.
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// A trainable tensor with PyTorch's layout (Dense weight [out, in], bias
/// [out]; Conv2D weight [out_ch, in_ch, k, k], bias [out_ch]) and its
/// gradient of the same shape. Sequential::backward adds into grad
/// (PyTorch's `grad +=`); zero_grad() resets it. A Parameter's address is
/// stable for the lifetime of the model that owns it.
struct Parameter {
  Tensor value;  ///< the values the layer computes with
  Tensor grad;   ///< dLoss/dvalue, accumulated over backward calls
};

}  // namespace nabla::nn
