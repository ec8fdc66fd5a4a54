#pragma once
/// \file residual.hpp  Residual(body, shortcut): y = body(x) + shortcut(x),
/// the shortcut the identity when it is empty (torchvision's BasicBlock
/// without its final ReLU, which follows the block as its own layer).
///
/// Parameter names follow the torch module with attributes `body` and
/// `shortcut` (both nn.Sequential): "body.0.weight", "shortcut.0.weight",
/// prefixed by the block's index in the outer model ("2.body.0.weight").
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nabla/nn/layers.hpp"
#include "nabla/nn/sequential.hpp"

namespace nabla::nn {

/// y = body(x) + shortcut(x) (shortcut = identity when empty). The two
/// outputs must have the same shape; the input gradient is the sum of the
/// two branches' (plus dY itself for the identity).
///
/// Inside a Sequential the block runs fused: both branches read the block's
/// input where it lies (no copy), the add runs in the body's last layer's
/// output pass (BatchNorm: in its apply kernel; other layers: one add pass
/// after it), and an activation that follows the block (ReLU in a ResNet)
/// runs there too; backward adds the branches' input gradients and applies
/// the previous layer's activation derivative in one pass.
/// Sequential::set_fusion(false) turns this off (add and activation then
/// run as passes of their own); results agree to float rounding.
class Residual : public Layer {
 public:
  /// body has at least one layer; throws nabla::Error otherwise.
  explicit Residual(Sequential body, Sequential shortcut = {});
  /// "Residual(3 layers + identity)", "Residual(5 layers + 2)".
  std::string name() const override;
  /// Throws nabla::Error naming the branch when the branches' shapes differ.
  std::vector<int64_t> output_shape(const std::vector<int64_t>& input) const override;
  /// "body.j.*" then "shortcut.j.*".
  std::vector<std::pair<std::string, Parameter*>> named_parameters() override;
  int64_t num_parameters() const override;
  /// "body.j.*" then "shortcut.j.*" (BatchNorm's running statistics).
  std::vector<std::pair<std::string, Buffer>> named_buffers() override;
  void reset_parameters(Init init, uint64_t seed) override;
  const LayerType& type() const override;
  /// The residual branch.
  Sequential& body() { return body_; }
  /// The shortcut branch (empty: identity).
  Sequential& shortcut() { return shortcut_; }

 private:
  /// Both branches follow the outer model's train()/eval().
  void set_training(bool on) override;
  /// And its set_fusion().
  void set_fusion(bool on) override;
  /// The activation after the block runs with the add.
  bool fuses_activation() const override { return true; }
  /// The previous activation's derivative runs with the gradients' add.
  bool fuses_input_derivative() const override { return true; }
  void prepare(const std::vector<int64_t>& input) override;
  void forward(const Tensor& x, Tensor& y, kernels::Activation act) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                kernels::Activation input_deriv) override;
  Sequential body_, shortcut_;
  Tensor shortcut_dx_;  // the shortcut's input gradient (a non-empty shortcut only)
};

}  // namespace nabla::nn
