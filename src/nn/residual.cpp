// Residual(body, shortcut): two Sequentials run on the same input, outputs
// added. Both branches run on the block's input where it lies (the outer
// model keeps it unchanged until its next forward and hands it to backward
// again: Sequential's borrowed entry points); the shortcut runs first, so
// that the body's last layer adds its output, and applies the activation
// that follows the block, in its own output pass (Sequential::forward_add).
// Backward feeds dz (the gradient of the sum) to both branches, the body
// writing its input gradient straight into dx, and adds the shortcut's (or,
// for the identity, dz itself) with the previous activation's derivative in
// one pass.
#include "nabla/nn/residual.hpp"

#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/nn/registry.hpp"

namespace nabla::nn {

Residual::Residual(Sequential body, Sequential shortcut) : body_(std::move(body)), shortcut_(std::move(shortcut)) {
  if (body_.size() == 0) throw Error("Residual: the body has no layers");
  body_.set_input_grad(true);
  shortcut_.set_input_grad(true);
}

std::string Residual::name() const {
  return "Residual(" + std::to_string(body_.size()) + " layers + " +
         (shortcut_.size() == 0 ? std::string("identity") : std::to_string(shortcut_.size())) + ")";
}

std::vector<int64_t> Residual::output_shape(const std::vector<int64_t>& input) const {
  std::vector<int64_t> b, s = input;
  try {
    b = body_.output_shape(input);
  } catch (const Error& e) {
    throw Error(std::string("body: ") + e.what());
  }
  try {
    if (shortcut_.size() > 0) s = shortcut_.output_shape(input);
  } catch (const Error& e) {
    throw Error(std::string("shortcut: ") + e.what());
  }
  if (b != s)
    throw Error("the body's output " + shape_string(b) + " does not match the " +
                (shortcut_.size() == 0 ? std::string("identity shortcut's ") : std::string("shortcut's ")) +
                shape_string(s) + " (add a shortcut that changes the shape: a 1×1 Conv2D with the body's stride)");
  return b;
}

std::vector<std::pair<std::string, Parameter*>> Residual::named_parameters() {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (auto& [n, p] : body_.named_parameters()) out.emplace_back("body." + n, p);
  for (auto& [n, p] : shortcut_.named_parameters()) out.emplace_back("shortcut." + n, p);
  return out;
}

std::vector<std::pair<std::string, Buffer>> Residual::named_buffers() {
  std::vector<std::pair<std::string, Buffer>> out;
  for (auto& [n, b] : body_.named_buffers()) out.emplace_back("body." + n, b);
  for (auto& [n, b] : shortcut_.named_buffers()) out.emplace_back("shortcut." + n, b);
  return out;
}

void Residual::set_training(bool on) {
  Layer::set_training(on);
  body_.train(on);
  shortcut_.train(on);
}

int64_t Residual::num_parameters() const { return body_.num_parameters() + shortcut_.num_parameters(); }

void Residual::reset_parameters(Init init, uint64_t seed) {
  body_.init(init, seed);
  shortcut_.init(init, seed ^ 0x5851F42D4C957F2Dull);
}

void Residual::set_fusion(bool on) {
  body_.set_fusion(on);
  shortcut_.set_fusion(on);
}

void Residual::prepare(const std::vector<int64_t>& input) {
  if (shortcut_.size() > 0 && shortcut_dx_.shape() != input) shortcut_dx_ = Tensor(input);
}

void Residual::forward(const Tensor& x, Tensor& y, kernels::Activation act) {
  const Tensor& r = shortcut_.size() > 0 ? shortcut_.forward_borrowed(x) : x;
  body_.forward_add(x, r, y, act);
}

void Residual::backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                        kernels::Activation input_deriv) {
  if (shortcut_.size() > 0) shortcut_.backward_borrowed(x, dz, dx ? &shortcut_dx_ : nullptr);
  body_.backward_borrowed(x, dz, dx);
  if (dx == nullptr) return;
  // dx = (body's + shortcut's) · input_deriv'(x): x is the previous layer's
  // output (use-the-output derivatives; Sequential calls backward_from for
  // the others, which applies them after this with input_deriv None).
  kernels::add_activation_backward(input_deriv, dx->numel(), x.data(), dx->data(),
                                   shortcut_.size() > 0 ? shortcut_dx_.data() : dz.data(), dx->data());
}

const LayerType& Residual::type() const { return layer_type("Residual"); }

}  // namespace nabla::nn
