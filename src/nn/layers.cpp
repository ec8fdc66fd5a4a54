#include "nabla/nn/layers.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/norm.hpp"
#include "nabla/kernels/pool.hpp"
#include "nabla/runtime/trace.hpp"
#include "nn/layers_internal.hpp"

namespace nabla::nn {

namespace nk = nabla::kernels;

namespace detail {

void init_weight_bias(Parameter& weight, Parameter& bias, int64_t fan_in, int64_t fan_out,
                      Init init, uint64_t seed) {
  const auto& ws = weight.value.shape();
  const auto& bs = bias.value.shape();
  const double fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
  const uint64_t bias_seed = seed ^ 0xD1B54A32D192ED03ull;
  switch (init) {
    case Init::PyTorchDefault: {
      // kaiming_uniform_(a = √5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in.
      const float bound = static_cast<float>(1.0 / std::sqrt(fi));
      weight.value.copy_from(Tensor::uniform(ws, -bound, bound, seed));
      bias.value.copy_from(Tensor::uniform(bs, -bound, bound, bias_seed));
      return;
    }
    case Init::HeUniform: {
      const float bound = static_cast<float>(std::sqrt(6.0 / fi));
      weight.value.copy_from(Tensor::uniform(ws, -bound, bound, seed));
      break;
    }
    case Init::HeNormal:
      weight.value.copy_from(Tensor::normal(ws, 0.f, static_cast<float>(std::sqrt(2.0 / fi)), seed));
      break;
    case Init::XavierUniform: {
      const float bound = static_cast<float>(std::sqrt(6.0 / (fi + fo)));
      weight.value.copy_from(Tensor::uniform(ws, -bound, bound, seed));
      break;
    }
    case Init::XavierNormal:
      weight.value.copy_from(
          Tensor::normal(ws, 0.f, static_cast<float>(std::sqrt(2.0 / (fi + fo))), seed));
      break;
  }
  bias.value.fill(0.f);
}

}  // namespace detail

// ---- Dense ------------------------------------------------------------------

Dense::Dense(int64_t in, int64_t out) : in_(in), out_(out) {
  if (in < 1 || out < 1)
    throw Error("Dense(" + std::to_string(in) + ", " + std::to_string(out) +
                "): features must be >= 1");
  weight = {Tensor({out, in}), Tensor({out, in})};
  bias = {Tensor({out}), Tensor({out})};
  reset_parameters(Init::PyTorchDefault, next_seed());
}

std::vector<double> Dense::args() const { return {double(in_), double(out_)}; }

std::string Dense::name() const {
  return "Dense " + std::to_string(in_) + "→" + std::to_string(out_);
}

std::vector<int64_t> Dense::output_shape(const std::vector<int64_t>& input) const {
  if (input.size() != 2)
    throw Error("input " + shape_string(input) + " is not [N, " + std::to_string(in_) +
                "] (add a Flatten before a Dense layer)");
  if (input[1] != in_)
    throw Error("input " + shape_string(input) + " has " + std::to_string(input[1]) +
                " features, expected " + std::to_string(in_));
  return {input[0], out_};
}

std::vector<std::pair<std::string, Parameter*>> Dense::named_parameters() {
  return {{"weight", &weight}, {"bias", &bias}};
}

int64_t Dense::num_parameters() const { return out_ * in_ + out_; }

void Dense::reset_parameters(Init init, uint64_t seed) {
  detail::init_weight_bias(weight, bias, in_, out_, init, seed);
}

void Dense::forward(const Tensor& x, Tensor& y, nk::Activation act) {
  const int64_t n = x.size(0);
  nk::gemm(nk::Trans::No, nk::Trans::Yes, n, out_, in_, 1.f, x.data(), in_, weight.value.data(),
           in_, 0.f, y.data(), out_,
           nk::Epilogue::bias_act(nk::BiasKind::PerCol, bias.value.data(), act));
}

void Dense::forward_with(const Tensor& x, Tensor& y, nk::Activation act, const Tensor& w, const Tensor& b) {
  nk::gemm(nk::Trans::No, nk::Trans::Yes, x.size(0), out_, in_, 1.f, x.data(), in_, w.data(), in_, 0.f, y.data(), out_,
           nk::Epilogue::bias_act(nk::BiasKind::PerCol, b.data(), act));
}

void Layer::forward_add(const Tensor& x, Tensor& y, const Tensor& r, Tensor& out, nk::Activation act) {
  forward(x, y, nk::Activation::None);
  nk::add_activation_forward(act, out.numel(), y.data(), r.data(), out.data());
}

void Layer::backward_from(const Tensor& x, const Tensor& d, const Tensor& y, const Tensor& dz, Tensor* dx,
                          nk::Activation input_deriv) {
  backward(x, y, dz, dx, nk::Activation::None);
  if (dx != nullptr && !input_deriv.is_none())
    nk::activation_backward(input_deriv, dx->numel(), d.data(), dx->data(), dx->data());
}

void Dense::backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx, nk::Activation input_deriv) {
  backward_from(x, x, y, dz, dx, input_deriv);
}

// d: where input_deriv's derivative comes from (x = the previous activation's
// output, or its input Z for the kinds whose derivative uses the input).
void Dense::backward_from(const Tensor& x, const Tensor& d, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                          nk::Activation input_deriv) {
  const int64_t n = x.size(0);
  // dW += dZᵀ·X  [out, in];  db += Σ_n dZ;  dX = dZ·W [n, in] (⊙ f'(X) fused).
  {
    const trace::PassScope weights(trace::Pass::BackwardWeights);
    nk::gemm(nk::Trans::Yes, nk::Trans::No, out_, in_, n, 1.f, dz.data(), out_, x.data(), in_, 1.f,
             weight.grad.data(), in_);
    nk::bias_grad(1, n, out_, dz.data(), nk::BiasKind::PerCol, bias.grad.data(), true);
  }
  if (dx != nullptr) {
    const nk::Epilogue ep = input_deriv == nk::Activation::None
                                ? nk::Epilogue{}
                                : nk::Epilogue::derivative(input_deriv, d.data(), in_);
    nk::gemm(nk::Trans::No, nk::Trans::No, n, in_, out_, 1.f, dz.data(), out_,
             weight.value.data(), in_, 0.f, dx->data(), in_, ep);
  }
}

// ---- Conv2D -----------------------------------------------------------------

Conv2D::Conv2D(int64_t in_ch, int64_t out_ch, int64_t kernel, int64_t stride, int64_t padding)
    : in_ch_(in_ch), out_ch_(out_ch), k_(kernel), stride_(stride), pad_(padding) {
  if (in_ch < 1 || out_ch < 1 || kernel < 1 || stride < 1 || padding < 0)
    throw Error("Conv2D(" + std::to_string(in_ch) + ", " + std::to_string(out_ch) + ", " +
                std::to_string(kernel) + ", " + std::to_string(stride) + ", " +
                std::to_string(padding) +
                "): channels, kernel and stride must be >= 1 and padding >= 0");
  weight = {Tensor({out_ch, in_ch, kernel, kernel}), Tensor({out_ch, in_ch, kernel, kernel})};
  bias = {Tensor({out_ch}), Tensor({out_ch})};
  reset_parameters(Init::PyTorchDefault, next_seed());
}

std::string Conv2D::name() const {
  const std::string k = std::to_string(k_);
  std::string s = "Conv2D " + std::to_string(in_ch_) + "→" + std::to_string(out_ch_) + " " + k +
                  "×" + k;
  if (stride_ != 1) s += " stride " + std::to_string(stride_);
  if (pad_ != 0) s += " pad " + std::to_string(pad_);
  return s;
}

std::vector<int64_t> Conv2D::output_shape(const std::vector<int64_t>& input) const {
  const std::string c = std::to_string(in_ch_);
  if (input.size() != 4)
    throw Error("input " + shape_string(input) + " is not [N, " + c + ", H, W]");
  if (input[1] != in_ch_)
    throw Error("input " + shape_string(input) + " has " + std::to_string(input[1]) +
                " channels, expected " + c);
  const int64_t ph = input[2] + 2 * pad_, pw = input[3] + 2 * pad_;
  if (input[0] < 1 || ph < k_ || pw < k_)
    throw Error("input " + shape_string(input) + " (padded " + std::to_string(ph) + "×" +
                std::to_string(pw) + ") is smaller than the " + std::to_string(k_) + "×" +
                std::to_string(k_) + " kernel");
  // The kernels' own validation (element counts overflowing 64 bits), so
  // that prepare() cannot fail after Sequential has checked every layer.
  const nk::ConvShape s(conv_params(input));
  return {input[0], out_ch_, s.oh(), s.ow()};
}

nk::ConvParams Conv2D::conv_params(const std::vector<int64_t>& input) const {
  return {.n = input[0], .c_in = in_ch_, .h = input[2], .w = input[3], .c_out = out_ch_,
          .kh = k_, .kw = k_, .stride_h = stride_, .stride_w = stride_, .pad_h = pad_,
          .pad_w = pad_};
}

std::vector<std::pair<std::string, Parameter*>> Conv2D::named_parameters() {
  return {{"weight", &weight}, {"bias", &bias}};
}

std::vector<double> Conv2D::args() const {
  return {double(in_ch_), double(out_ch_), double(k_), double(stride_), double(pad_)};
}

int64_t Conv2D::num_parameters() const { return out_ch_ * in_ch_ * k_ * k_ + out_ch_; }

void Conv2D::reset_parameters(Init init, uint64_t seed) {
  // PyTorch's _calculate_fan_in_and_fan_out: fan_in = in_ch·k·k, fan_out = out_ch·k·k.
  detail::init_weight_bias(weight, bias, in_ch_ * k_ * k_, out_ch_ * k_ * k_, init, seed);
}

void Conv2D::prepare(const std::vector<int64_t>& input) {
  shape_.emplace(conv_params(input));
}

void Conv2D::forward(const Tensor& x, Tensor& y, nk::Activation act) {
  nk::conv2d_forward(*shape_, x.data(), weight.value.data(), bias.value.data(), act, y.data());
}

void Conv2D::forward_with(const Tensor& x, Tensor& y, nk::Activation act, const Tensor& w, const Tensor& b) {
  nk::conv2d_forward(*shape_, x.data(), w.data(), b.data(), act, y.data());
}

bool Conv2D::fuses_max_pool(const Layer& next) const {
  const auto* pool = dynamic_cast<const MaxPool2D*>(&next);
  return pool && pool->kernel() == 2 && pool->stride() == 2 && shape_ && nk::conv2d_fuses_maxpool(*shape_);
}

void Conv2D::forward_pool(const Tensor& x, Tensor& y, nk::Activation act, Layer& pool) {
  nk::conv2d_forward_maxpool(*shape_, x.data(), weight.value.data(), bias.value.data(), act, y.data(),
                             static_cast<MaxPool2D&>(pool).argmax_.data());
}

bool Conv2D::fuses_max_pool_grad(const Layer& /*pool*/) const {
  return shape_ && nk::conv2d_fuses_maxpool_grad(*shape_);
}

void Conv2D::backward_pooled(const Tensor& x, const Tensor& dz, Layer& pool) {
  const trace::PassScope weights(trace::Pass::BackwardWeights);
  nk::conv2d_backward_weights_maxpool(*shape_, x.data(), dz.data(), static_cast<MaxPool2D&>(pool).argmax_.data(),
                                      weight.grad.data(), bias.grad.data(), /*accumulate=*/true);
}

void Conv2D::backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx, nk::Activation input_deriv) {
  backward_from(x, x, y, dz, dx, input_deriv);
}

void Conv2D::backward_from(const Tensor& x, const Tensor& d, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                           nk::Activation input_deriv) {
  // dW += Σ_n dZ_n·col_nᵀ, db += Σ dZ (PyTorch's grad +=);
  // dX = col2im(Wᵀ·dZ) (⊙ f'(X), X being the previous activation's output, fused).
  {
    const trace::PassScope weights(trace::Pass::BackwardWeights);
    nk::conv2d_backward_weights(*shape_, x.data(), dz.data(), weight.grad.data(), bias.grad.data(),
                                /*accumulate=*/true);
  }
  if (dx != nullptr)
    nk::conv2d_backward_data(*shape_, dz.data(), weight.value.data(), dx->data(), input_deriv,
                             input_deriv == nk::Activation::None ? nullptr : d.data());
}

// ---- MaxPool2D --------------------------------------------------------------

MaxPool2D::MaxPool2D(int64_t kernel, int64_t stride) {
  if (kernel < 1 || stride < 0)
    throw Error("MaxPool2D(" + std::to_string(kernel) + ", " + std::to_string(stride) +
                "): kernel must be >= 1 and stride >= 1 (0: the kernel)");
  geom_.kernel = kernel;
  geom_.stride = stride == 0 ? kernel : stride;
  geom_.padding = 0;
}

std::vector<double> MaxPool2D::args() const { return {double(geom_.kernel), double(geom_.stride)}; }

std::string MaxPool2D::name() const {
  const std::string k = std::to_string(geom_.kernel);
  return "MaxPool2D " + k + "×" + k + "/" + std::to_string(geom_.stride);
}

std::vector<int64_t> MaxPool2D::output_shape(const std::vector<int64_t>& input) const {
  if (input.size() != 4) throw Error("input " + shape_string(input) + " is not [N, C, H, W]");
  if (input[2] < geom_.kernel || input[3] < geom_.kernel)
    throw Error("input " + shape_string(input) + " is smaller than the " +
                std::to_string(geom_.kernel) + "×" + std::to_string(geom_.kernel) + " window");
  kernels::MaxPool2d g = geom_;
  g.n = input[0], g.c = input[1], g.h = input[2], g.w = input[3];
  return {input[0], input[1], g.out_h(), g.out_w()};
}

void MaxPool2D::prepare(const std::vector<int64_t>& input) {
  geom_.n = input[0], geom_.c = input[1], geom_.h = input[2], geom_.w = input[3];
  argmax_.assign(static_cast<size_t>(geom_.n * geom_.c * geom_.out_h() * geom_.out_w()), 0);
}

void MaxPool2D::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  nk::max_pool2d_forward(geom_, x.data(), y.data(), argmax_.data());
}

// The previous activation's derivative comes from y, the pooled output
// (the activation's output at each chosen input), before the scatter.
void MaxPool2D::backward(const Tensor& /*x*/, const Tensor& y, const Tensor& dz, Tensor* dx,
                         nk::Activation input_deriv) {
  if (dx != nullptr) nk::max_pool2d_backward(geom_, dz.data(), argmax_.data(), dx->data(), input_deriv, y.data());
}

// ---- AvgPool2D, GlobalAvgPool2D ---------------------------------------------------

AvgPool2D::AvgPool2D(int64_t kernel, int64_t stride, int64_t padding) {
  if (kernel < 1 || stride < 0 || padding < 0 || 2 * padding > kernel)
    throw Error("AvgPool2D(" + std::to_string(kernel) + ", " + std::to_string(stride) + ", " +
                std::to_string(padding) +
                "): kernel must be >= 1, stride >= 1 (0: the kernel) and padding in [0, kernel/2]");
  geom_.kernel = kernel;
  geom_.stride = stride == 0 ? kernel : stride;
  geom_.padding = padding;
}

std::vector<double> AvgPool2D::args() const {
  return {double(geom_.kernel), double(geom_.stride), double(geom_.padding)};
}

std::string AvgPool2D::name() const {
  const std::string k = std::to_string(geom_.kernel);
  return "AvgPool2D " + k + "×" + k + "/" + std::to_string(geom_.stride) +
         (geom_.padding ? " pad " + std::to_string(geom_.padding) : "");
}

std::vector<int64_t> AvgPool2D::output_shape(const std::vector<int64_t>& input) const {
  if (input.size() != 4) throw Error("input " + shape_string(input) + " is not [N, C, H, W]");
  if (input[2] + 2 * geom_.padding < geom_.kernel || input[3] + 2 * geom_.padding < geom_.kernel)
    throw Error("input " + shape_string(input) + " (padded by " + std::to_string(geom_.padding) +
                ") is smaller than the " + std::to_string(geom_.kernel) + "×" + std::to_string(geom_.kernel) +
                " window");
  kernels::AvgPool2d g = geom_;
  g.n = input[0], g.c = input[1], g.h = input[2], g.w = input[3];
  return {input[0], input[1], g.out_h(), g.out_w()};
}

void AvgPool2D::prepare(const std::vector<int64_t>& input) {
  geom_.n = input[0], geom_.c = input[1], geom_.h = input[2], geom_.w = input[3];
}

void AvgPool2D::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  nk::avg_pool2d_forward(geom_, x.data(), y.data());
}

void AvgPool2D::backward(const Tensor& /*x*/, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                         nk::Activation /*input_deriv*/) {
  if (dx != nullptr) nk::avg_pool2d_backward(geom_, dz.data(), dx->data());
}

std::vector<int64_t> GlobalAvgPool2D::output_shape(const std::vector<int64_t>& input) const {
  if (input.size() != 4 || input[2] < 1 || input[3] < 1)
    throw Error("input " + shape_string(input) + " is not [N, C, H, W] with H, W >= 1");
  return {input[0], input[1], 1, 1};
}

void GlobalAvgPool2D::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  nk::global_avg_pool2d_forward(x.size(0) * x.size(1), x.size(2) * x.size(3), x.data(), y.data());
}

void GlobalAvgPool2D::backward(const Tensor& x, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                               nk::Activation /*input_deriv*/) {
  if (dx != nullptr)
    nk::global_avg_pool2d_backward(x.size(0) * x.size(1), x.size(2) * x.size(3), dz.data(), dx->data());
}

// ---- Flatten ----------------------------------------------------------------

std::vector<int64_t> Flatten::output_shape(const std::vector<int64_t>& input) const {
  if (input.empty()) throw Error("input has no batch dimension");
  int64_t f = 1;
  for (size_t i = 1; i < input.size(); ++i) f *= input[i];
  return {input[0], f};
}

void Flatten::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  std::memcpy(y.data(), x.data(), static_cast<size_t>(x.numel()) * sizeof(float));
}

void Flatten::backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx, nk::Activation input_deriv) {
  backward_from(x, x, y, dz, dx, input_deriv);
}

// dX = dZ, times the previous activation's derivative (from d) in the same
// pass rather than a copy and then a pass over dX.
void Flatten::backward_from(const Tensor& /*x*/, const Tensor& d, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                            nk::Activation input_deriv) {
  if (dx == nullptr) return;
  if (input_deriv.is_none())
    std::memcpy(dx->data(), dz.data(), static_cast<size_t>(dz.numel()) * sizeof(float));
  else
    nk::activation_backward(input_deriv, dz.numel(), d.data(), dz.data(), dx->data());
}

// ---- activations ------------------------------------------------------------

ActivationLayer::ActivationLayer(nk::Activation f) : f_(f) {
  nk::check_activation(f, "activation layer");
}

std::string ActivationLayer::name() const {
  std::string s(f_.info().layer);
  if (nk::has_param(f_.kind)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "(%g)", static_cast<double>(f_.param));
    s += buf;
  }
  return s;
}

std::vector<double> ActivationLayer::args() const {
  if (nk::has_param(f_.kind)) return {static_cast<double>(f_.param)};
  return {};
}

std::vector<int64_t> ActivationLayer::output_shape(const std::vector<int64_t>& input) const {
  if (input.empty()) throw Error("input has no batch dimension");
  return input;
}

void ActivationLayer::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  nk::activation_forward(f_, 1, 1, x.numel(), x.data(), nk::BiasKind::None, nullptr, y.data());
}

void ActivationLayer::backward(const Tensor& x, const Tensor& y, const Tensor& dz, Tensor* dx,
                               nk::Activation /*input_deriv*/) {
  const Tensor& d = nk::derivative_uses_input(f_.kind) ? x : y;  // the table's DerivFrom
  if (dx != nullptr) nk::activation_backward(f_, y.numel(), d.data(), dz.data(), dx->data());
}

std::vector<int64_t> Softmax::output_shape(const std::vector<int64_t>& input) const {
  if (input.size() < 2) throw Error("input " + shape_string(input) + " is not [N, C, ...]");
  return input;
}

void Softmax::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  const int64_t cols = x.size(-1);
  nk::softmax_forward(x.numel() / cols, cols, x.data(), nk::BiasKind::None, nullptr, y.data());
}

void Softmax::backward(const Tensor& /*x*/, const Tensor& y, const Tensor& dz, Tensor* dx,
                       nk::Activation /*input_deriv*/) {
  const int64_t cols = y.size(-1);
  if (dx != nullptr) nk::softmax_backward(y.numel() / cols, cols, y.data(), dz.data(), dx->data());
}

// ---- BatchNorm --------------------------------------------------------------

BatchNorm::BatchNorm(int rank, int64_t channels, double eps, double momentum)
    : rank_(rank), c_(channels), eps_(eps), momentum_(momentum) {
  if (channels < 1 || !(eps >= 0) || !(momentum >= 0) || !std::isfinite(eps) || !std::isfinite(momentum)) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "(%lld, eps=%g, momentum=%g): channels must be >= 1, eps and momentum finite and >= 0",
                  static_cast<long long>(channels), eps, momentum);
    throw Error(std::string(rank == 4 ? "BatchNorm2D" : "BatchNorm1D") + buf);
  }
  weight = {Tensor({channels}), Tensor({channels})};
  bias = {Tensor({channels}), Tensor({channels})};
  running_mean = Tensor({channels});
  running_var = Tensor({channels});
  running_var.fill(1.f);
  reset_parameters(Init::PyTorchDefault, 0);
  for (auto* v : {&mean_, &var_, &sum_dz_, &sum_dzx_}) v->assign(static_cast<size_t>(channels), 0.0);
  for (auto* v : {&mean_f_, &scale_, &shift_, &k_dz_, &k_x_, &k_0_}) v->assign(static_cast<size_t>(channels), 0.f);
}

std::string BatchNorm::name() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s(%lld", rank_ == 4 ? "BatchNorm2D" : "BatchNorm1D", static_cast<long long>(c_));
  std::string s = buf;
  if (eps_ != 1e-5) std::snprintf(buf, sizeof buf, ", eps=%g", eps_), s += buf;
  if (momentum_ != 0.1) std::snprintf(buf, sizeof buf, ", momentum=%g", momentum_), s += buf;
  return s + ")";
}

std::vector<int64_t> BatchNorm::output_shape(const std::vector<int64_t>& input) const {
  const std::string c = std::to_string(c_);
  if (static_cast<int>(input.size()) != rank_)
    throw Error("input " + shape_string(input) + " is not " + (rank_ == 4 ? "[N, " + c + ", H, W]" : "[N, " + c + "]"));
  if (input[1] != c_)
    throw Error("input " + shape_string(input) + " has " + std::to_string(input[1]) + " channels, expected " + c);
  return input;
}

std::vector<std::pair<std::string, Parameter*>> BatchNorm::named_parameters() {
  return {{"weight", &weight}, {"bias", &bias}};
}

std::vector<std::pair<std::string, Buffer>> BatchNorm::named_buffers() {
  return {{"running_mean", {&running_mean, nullptr}},
          {"running_var", {&running_var, nullptr}},
          {"num_batches_tracked", {nullptr, &num_batches_tracked}}};
}

void BatchNorm::reset_parameters(Init /*init*/, uint64_t /*seed*/) {
  weight.value.fill(1.f);
  bias.value.fill(0.f);
}

void BatchNorm::prepare(const std::vector<int64_t>& input) {
  if (is_training() && input[0] * (rank_ == 4 ? input[2] * input[3] : 1) < 2)
    throw Error(name() + ": expected more than 1 value per channel when training, got input " + shape_string(input));
}

namespace {
nk::NormShape norm_shape(const Tensor& x) {
  return {x.size(0), x.size(1), x.shape().size() == 4 ? x.size(2) * x.size(3) : 1};
}
}  // namespace

void BatchNorm::compute_scale_shift(const Tensor& x) {
  const nk::NormShape s = norm_shape(x);
  trained_forward_ = is_training();
  if (trained_forward_) {
    const int64_t m = s.n * s.hw;
    if (m < 2)
      throw Error(name() + ": expected more than 1 value per channel when training, got input " + shape_string(x.shape()));
    nk::batchnorm_stats(s, x.data(), mean_.data(), var_.data());
    const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
    float* rm = running_mean.data();
    float* rv = running_var.data();
    for (int64_t c = 0; c < c_; ++c) {
      const double inv = 1.0 / std::sqrt(var_[c] + eps_);
      // torch (batch_norm_cpu_update_stats, in double): running = momentum·batch + (1 − momentum)·running.
      rm[c] = static_cast<float>(momentum_ * mean_[c] + (1 - momentum_) * rm[c]);
      rv[c] = static_cast<float>(momentum_ * var_[c] * unbias + (1 - momentum_) * rv[c]);
      mean_f_[c] = static_cast<float>(mean_[c]);
      var_[c] = inv;  // kept as the inverse standard deviation for backward
      scale_[c] = static_cast<float>(weight.value.data()[c] * inv);
      shift_[c] = static_cast<float>(bias.value.data()[c] - mean_[c] * weight.value.data()[c] * inv);
    }
    ++num_batches_tracked;
  } else {
    for (int64_t c = 0; c < c_; ++c) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(running_var.data()[c]) + eps_);
      mean_f_[c] = running_mean.data()[c];
      var_[c] = inv;
      scale_[c] = static_cast<float>(weight.value.data()[c] * inv);
      shift_[c] = static_cast<float>(bias.value.data()[c] - running_mean.data()[c] * weight.value.data()[c] * inv);
    }
  }
}

void BatchNorm::forward(const Tensor& x, Tensor& y, nk::Activation act) {
  compute_scale_shift(x);
  act_ = act;
  nk::batchnorm_apply(norm_shape(x), x.data(), scale_.data(), shift_.data(), act, y.data());
}

// out = act(bn(x) + r) in the apply pass; y (the layer's own output) is not
// written: backward gets dLoss/d(bn(x)) and, with no activation of its own
// (act_ = None), does not read it.
void BatchNorm::forward_add(const Tensor& x, Tensor& /*y*/, const Tensor& r, Tensor& out, nk::Activation act) {
  compute_scale_shift(x);
  act_ = nk::Activation::None;
  nk::batchnorm_apply(norm_shape(x), x.data(), scale_.data(), shift_.data(), act, out.data(), r.data());
}

void BatchNorm::backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, nk::Activation /*input_deriv*/) {
  // dy = dLoss/d(output after the fused activation); dz = dy ⊙ act'(y).
  // dweight += Σ dz·x̂, dbias += Σ dz; in training
  // dx = w·inv·(dz − Σdz/M − x̂·Σ(dz·x̂)/M), x̂ = (x − mean)·inv; in eval dx = w·inv·dz.
  const nk::NormShape s = norm_shape(x);
  // A ReLU's derivative comes from the sign of the forward's x·scale + shift
  // (scale_, shift_ still hold them): the passes then stream dy and x, not y.
  const bool from_x = nk::sign_derivative(act_);
  const float* yd = from_x ? nullptr : y.data();
  {
    const trace::PassScope weights(trace::Pass::BackwardWeights);
    nk::batchnorm_backward_reduce(s, dy.data(), yd, act_, x.data(), mean_f_.data(), sum_dz_.data(), sum_dzx_.data(),
                                  scale_.data(), shift_.data());
  }
  const double m = static_cast<double>(s.n * s.hw);
  for (int64_t c = 0; c < c_; ++c) {
    const double inv = var_[c], w = weight.value.data()[c];
    weight.grad.data()[c] += static_cast<float>(sum_dzx_[c] * inv);
    bias.grad.data()[c] += static_cast<float>(sum_dz_[c]);
    k_dz_[c] = static_cast<float>(w * inv);
    k_x_[c] = trained_forward_ ? static_cast<float>(-w * inv * inv * inv * sum_dzx_[c] / m) : 0.f;
    k_0_[c] = trained_forward_ ? static_cast<float>(-w * inv * sum_dz_[c] / m) : 0.f;
  }
  if (dx != nullptr)
    nk::batchnorm_backward_apply(s, dy.data(), yd, act_, x.data(), mean_f_.data(), k_dz_.data(), k_x_.data(),
                                 k_0_.data(), dx->data(), scale_.data(), shift_.data());
}

bool BatchNorm::fold(const Tensor& w, const Tensor& b, Tensor& fw, Tensor& fb) const {
  if (w.shape().empty() || w.size(0) != c_ || b.numel() != c_) return false;
  if (fw.shape() != w.shape()) fw = Tensor(w.shape());
  if (fb.shape() != b.shape()) fb = Tensor(b.shape());
  const int64_t row = w.numel() / c_;
  for (int64_t c = 0; c < c_; ++c) {
    const double sc = weight.value.data()[c] / std::sqrt(static_cast<double>(running_var.data()[c]) + eps_);
    for (int64_t j = 0; j < row; ++j) fw.data()[c * row + j] = static_cast<float>(w.data()[c * row + j] * sc);
    fb.data()[c] = static_cast<float>((b.data()[c] - running_mean.data()[c]) * sc + bias.value.data()[c]);
  }
  return true;
}

// ---- Dropout ----------------------------------------------------------------

Dropout::Dropout(double p) : p_(p) {
  if (!(p >= 0 && p < 1)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "Dropout(%g): the drop probability p must be in [0, 1)", p);
    throw Error(buf);
  }
}

std::string Dropout::name() const {
  char buf[48];
  std::snprintf(buf, sizeof buf, "Dropout(%g)", p_);
  return buf;
}

std::vector<int64_t> Dropout::output_shape(const std::vector<int64_t>& input) const {
  if (input.empty()) throw Error("input has no batch dimension");
  return input;
}

void Dropout::forward(const Tensor& x, Tensor& y, nk::Activation /*act*/) {
  masked_ = is_training() && p_ > 0;
  if (!masked_) {
    std::memcpy(y.data(), x.data(), static_cast<size_t>(x.numel()) * sizeof(float));
    return;
  }
  key_ = next_dropout_key();
  nk::dropout(x.numel(), x.data(), static_cast<float>(p_), key_, y.data());
}

void Dropout::backward(const Tensor& /*x*/, const Tensor& /*y*/, const Tensor& dz, Tensor* dx,
                       nk::Activation /*input_deriv*/) {
  if (dx == nullptr) return;
  if (!masked_)
    std::memcpy(dx->data(), dz.data(), static_cast<size_t>(dz.numel()) * sizeof(float));
  else
    nk::dropout(dz.numel(), dz.data(), static_cast<float>(p_), key_, dx->data());
}

}  // namespace nabla::nn
