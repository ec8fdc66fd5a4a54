// Residual(body, shortcut): two Sequentials run on the same input, outputs
// added. Each branch keeps its own buffers (its input is copied, as
// Sequential::forward does); backward adds the branches' input gradients.
#include "nabla/nn/residual.hpp"

#include "nabla/error.hpp"
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

void Residual::forward(const Tensor& x, Tensor& y, kernels::Activation /*act*/) {
  const Tensor b = body_.forward(x);
  const Tensor s = shortcut_.size() > 0 ? shortcut_.forward(x) : x;
  const float* pb = b.data();
  const float* ps = s.data();
  float* py = y.data();
  for (int64_t i = 0, n = y.numel(); i < n; ++i) py[i] = pb[i] + ps[i];
}

void Residual::backward(const Tensor& /*x*/, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                        kernels::Activation /*input_deriv*/) {
  const Tensor db = body_.backward(dz);
  const Tensor ds = shortcut_.size() > 0 ? shortcut_.backward(dz) : dz;
  if (dx == nullptr) return;
  const float* pb = db.data();
  const float* ps = ds.data();
  float* pd = dx->data();
  for (int64_t i = 0, n = dx->numel(); i < n; ++i) pd[i] = pb[i] + ps[i];
}

const LayerType& Residual::type() const { return layer_type("Residual"); }

}  // namespace nabla::nn
