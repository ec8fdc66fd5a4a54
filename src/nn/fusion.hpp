#pragma once
// Loss fusion across `model.backward(loss.backward())` without the tensor
// layer knowing about it: a loss that has an exact closed form for the
// gradient of its prediction's pre-activation (BinaryCrossEntropy after a
// sigmoid: (A − Y)/N) registers the storage of each gradient it returns;
// Sequential::backward looks the incoming gradient up and asks that loss
// (Loss::fused_input_grad), which uses it only if the gradient and the
// prediction still hold exactly the values of its last forward. Nothing is
// attached to the tensors, and a gradient the caller modified is used as it
// is.
#include "nabla/nn/loss.hpp"

namespace nabla::nn::detail {

/// Records that the gradient stored at `grad` was returned by `loss`.
void register_loss_gradient(const float* grad, const Loss* loss);
/// Forgets every gradient of `loss` (its destructor).
void unregister_loss(const Loss* loss);
/// The loss whose gradient is stored at `grad`, or null.
const Loss* loss_of_gradient(const float* grad);

}  // namespace nabla::nn::detail
