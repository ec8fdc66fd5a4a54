// libtorch side of nabla_compare (see torch_peer.hpp). The only translation
// unit that includes <torch/torch.h>.
#include "torch_peer.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <functional>
#include <optional>
#include <stdexcept>

namespace nabla_compare {

namespace {

torch::Tensor copy_in(const float* data, const std::vector<int64_t>& shape) {
  return torch::from_blob(const_cast<float*>(data), shape, torch::kFloat32).clone();
}

std::vector<float> copy_out(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + c.numel());
}

// An element-wise activation by its ATen operator's name, called boxed
// through the dispatcher (autograd included): "relu", or "leaky_relu" with
// its slope, and the operator's own defaults for the rest of its schema.
std::function<torch::Tensor(torch::Tensor)> aten_activation(const std::string& op, std::optional<double> param,
                                                            const std::pair<std::string, std::string>& str = {}) {
  const c10::OperatorHandle handle = c10::Dispatcher::singleton().findSchemaOrThrow(("aten::" + op).c_str(), "");
  return [handle, param, str](torch::Tensor x) {
    torch::jit::Stack stack;
    stack.emplace_back(std::move(x));
    if (param) stack.emplace_back(c10::Scalar(*param));
    const auto& args = handle.schema().arguments();
    for (size_t a = stack.size(); a < args.size(); ++a) {
      if (!str.first.empty() && args[a].name() == str.first) {  // gelu's approximate='tanh'
        stack.emplace_back(str.second);
        continue;
      }
      if (!args[a].default_value())
        throw std::runtime_error("aten::" + handle.schema().name() + ": argument " + args[a].name() + " has no default");
      stack.push_back(*args[a].default_value());
    }
    handle.callBoxed(&stack);
    return stack.back().toTensor();
  };
}

// body(x) + shortcut(x), the shortcut the identity when empty: README's
// Python module, with the same submodule names (so the same parameter order).
struct ResidualImpl : torch::nn::Module {
  ResidualImpl(torch::nn::Sequential b, torch::nn::Sequential s)
      : body(register_module("body", std::move(b))), shortcut(register_module("shortcut", std::move(s))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return shortcut->is_empty() ? body->forward(x) + x : body->forward(x) + shortcut->forward(x);
  }
  torch::nn::Sequential body, shortcut;
};
TORCH_MODULE(Residual);

// The torch.nn.Sequential of a list of layer descriptions.
torch::nn::Sequential build(const std::vector<LayerDesc>& layers) {
  namespace tn = torch::nn;
  tn::Sequential model;
  for (const LayerDesc& l : layers) {
    auto i = [&](const char* name) { return static_cast<int64_t>(l.arg(name)); };
    if (!l.aten_op.empty()) model->push_back(tn::Functional(aten_activation(l.aten_op, l.aten_param, l.aten_str)));
    else if (l.module == "Linear") model->push_back(tn::Linear(i("in_features"), i("out_features")));
    else if (l.module == "Conv2d")
      model->push_back(tn::Conv2d(tn::Conv2dOptions(i("in_channels"), i("out_channels"), i("kernel_size"))
                                      .stride(i("stride"))
                                      .padding(i("padding"))));
    else if (l.module == "MaxPool2d")
      model->push_back(tn::MaxPool2d(tn::MaxPool2dOptions(i("kernel_size")).stride(i("stride"))));
    else if (l.module == "AvgPool2d")
      model->push_back(tn::AvgPool2d(tn::AvgPool2dOptions(i("kernel_size")).stride(i("stride")).padding(i("padding"))));
    else if (l.module == "AdaptiveAvgPool2d")
      model->push_back(tn::AdaptiveAvgPool2d(tn::AdaptiveAvgPool2dOptions(i("output_size"))));
    else if (l.module == "Flatten") model->push_back(tn::Flatten());
    else if (l.module == "Softmax") model->push_back(tn::Softmax(tn::SoftmaxOptions(-1)));
    else if (l.module == "BatchNorm2d")
      model->push_back(tn::BatchNorm2d(tn::BatchNorm2dOptions(i("num_features")).eps(l.arg("eps")).momentum(l.arg("momentum"))));
    else if (l.module == "BatchNorm1d")
      model->push_back(tn::BatchNorm1d(tn::BatchNorm1dOptions(i("num_features")).eps(l.arg("eps")).momentum(l.arg("momentum"))));
    else if (l.module == "Dropout") model->push_back(tn::Dropout(tn::DropoutOptions(l.arg("p"))));
    else if (l.module == "Residual") model->push_back(Residual(build(l.body), build(l.shortcut)));
    else throw std::runtime_error("no libtorch equivalent for torch.nn." + l.module);
  }
  return model;
}

}  // namespace

bool torch_built() { return true; }
std::string torch_version() { return TORCH_VERSION; }

void torch_set_threads(int threads) {
  static const bool interop = [] {
    at::set_num_interop_threads(1);
    return true;
  }();
  (void)interop;
  // Only on a change: torch::set_num_threads also re-creates caffe2's
  // pthreadpool, whose new workers spin-wait for milliseconds and took the
  // second core from libtorch's own OpenMP team (2-thread steps ran 2x slower
  // when it was called before every sample).
  static int current = 0;
  if (threads == current) return;
  torch::set_num_threads(threads);
  current = threads;
}

struct TorchNet::Impl {
  torch::nn::Sequential model;
  std::vector<torch::Tensor> initial;  // parameter values to reset to
  std::vector<torch::Tensor> xs, ts;   // the pool of batches
  bool binary = true;
  float lr = 0, momentum = 0;
  std::unique_ptr<torch::optim::SGD> opt;
  torch::Tensor last_out;

  torch::Tensor loss(const torch::Tensor& y, size_t i) {
    return binary ? torch::binary_cross_entropy(y, ts[i]) : torch::nn::functional::cross_entropy(y, ts[i]);
  }
};

TorchNet::TorchNet(const NetDesc& net, int64_t batch, const std::vector<std::vector<float>>& params,
                   const std::vector<const float*>& xs, const std::vector<const float*>& ts, float lr, float momentum)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.model = build(net.layers);
  const auto ps = m.model->parameters();
  if (ps.size() != params.size())
    throw std::runtime_error("libtorch model has " + std::to_string(ps.size()) + " parameters, nabla's " +
                             std::to_string(params.size()));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < ps.size(); ++i) {
    if (static_cast<size_t>(ps[i].numel()) != params[i].size())
      throw std::runtime_error("libtorch parameter " + std::to_string(i) + " has " + std::to_string(ps[i].numel()) +
                               " values, nabla's " + std::to_string(params[i].size()));
    m.initial.push_back(copy_in(params[i].data(), ps[i].sizes().vec()));
  }
  std::vector<int64_t> in = {batch};
  in.insert(in.end(), net.sample.begin(), net.sample.end());
  m.binary = net.classes == 1;
  for (size_t i = 0; i < xs.size(); ++i) {
    m.xs.push_back(copy_in(xs[i], in));
    m.ts.push_back(m.binary ? copy_in(ts[i], {batch, 1}) : copy_in(ts[i], {batch}).to(torch::kLong));
  }
  m.lr = lr;
  m.momentum = momentum;
  reset();
}

TorchNet::~TorchNet() = default;

void TorchNet::reset() {
  Impl& m = *impl_;
  {
    torch::NoGradGuard no_grad;
    const auto ps = m.model->parameters();
    for (size_t i = 0; i < ps.size(); ++i) ps[i].copy_(m.initial[i]);
  }
  m.opt = std::make_unique<torch::optim::SGD>(m.model->parameters(),
                                              torch::optim::SGDOptions(m.lr).momentum(m.momentum));
}

float TorchNet::train_step(size_t i) {
  Impl& m = *impl_;
  m.opt->zero_grad();
  torch::Tensor loss = m.loss(m.model->forward(m.xs[i]), i);
  loss.backward();
  m.opt->step();
  return loss.item<float>();
}

float TorchNet::loss_and_grads(size_t i) {
  Impl& m = *impl_;
  m.opt->zero_grad();
  torch::Tensor loss = m.loss(m.model->forward(m.xs[i]), i);
  loss.backward();
  return loss.item<float>();
}

std::vector<std::vector<float>> TorchNet::grads() const {
  std::vector<std::vector<float>> g;
  for (const auto& p : impl_->model->parameters()) g.push_back(copy_out(p.grad()));
  return g;
}

void TorchNet::infer(size_t i) {
  c10::InferenceMode guard;
  impl_->last_out = impl_->model->forward(impl_->xs[i]);
}

std::vector<float> TorchNet::out() const { return copy_out(impl_->last_out); }

struct TorchConv::Impl {
  torch::Tensor src, w, b, dz, dst, dsrc, dw, db;
  int64_t stride = 1, pad = 0;
};

TorchConv::TorchConv(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t c_out, int64_t k, int64_t stride,
                     int64_t pad, const float* src, const float* weight, const float* bias, const float* dz)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.stride = stride;
  m.pad = pad;
  const int64_t oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
  m.src = copy_in(src, {n, c_in, h, w});
  m.w = copy_in(weight, {c_out, c_in, k, k});
  m.b = copy_in(bias, {c_out});
  m.dz = copy_in(dz, {n, c_out, oh, ow});
}

TorchConv::~TorchConv() = default;

void TorchConv::run(Pass p) {
  Impl& m = *impl_;
  torch::NoGradGuard no_grad;  // the passes autograd would run, called directly
  const std::vector<int64_t> stride = {m.stride, m.stride}, pad = {m.pad, m.pad}, dil = {1, 1}, out_pad = {0, 0};
  switch (p) {
    case Pass::Forward: m.dst = torch::conv2d(m.src, m.w, m.b, stride, pad).relu_(); break;
    case Pass::BackwardData:
      m.dsrc = std::get<0>(at::convolution_backward(m.dz, m.src, m.w, c10::nullopt, stride, pad, dil, false, out_pad,
                                                    1, {true, false, false}));
      break;
    case Pass::BackwardWeights: {
      auto r = at::convolution_backward(m.dz, m.src, m.w, std::vector<int64_t>{m.w.size(0)}, stride, pad, dil, false,
                                        out_pad, 1, {false, true, true});
      m.dw = std::get<1>(r);
      m.db = std::get<2>(r);
      break;
    }
  }
}

std::vector<float> TorchConv::dst() const { return copy_out(impl_->dst); }
std::vector<float> TorchConv::dsrc() const { return copy_out(impl_->dsrc); }
std::vector<float> TorchConv::dw() const { return copy_out(impl_->dw); }
std::vector<float> TorchConv::db() const { return copy_out(impl_->db); }

struct TorchOptim::Impl {
  OptimDesc desc;
  torch::Tensor p, initial;
  std::vector<torch::Tensor> grads;
  size_t current = SIZE_MAX;  // the pool's gradient in p.grad()
  std::unique_ptr<torch::optim::Optimizer> opt;
};

TorchOptim::TorchOptim(const OptimDesc& desc, int64_t n, const float* init, const std::vector<const float*>& grads)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.desc = desc;
  m.initial = copy_in(init, {n});
  m.p = m.initial.clone().requires_grad_(true);
  for (const float* g : grads) m.grads.push_back(copy_in(g, {n}));
  m.p.mutable_grad() = torch::zeros({n});
  reset();
}

TorchOptim::~TorchOptim() = default;

void TorchOptim::reset() {
  Impl& m = *impl_;
  namespace to = torch::optim;
  {
    torch::NoGradGuard no_grad;
    m.p.copy_(m.initial);
  }
  const OptimDesc& d = m.desc;
  const std::vector<torch::Tensor> params = {m.p};
  if (d.kind == "sgd")
    m.opt = std::make_unique<to::SGD>(
        params, to::SGDOptions(d.lr).momentum(d.momentum).weight_decay(d.weight_decay).nesterov(d.nesterov));
  else if (d.kind == "adam")
    m.opt = std::make_unique<to::Adam>(
        params, to::AdamOptions(d.lr).betas({d.beta1, d.beta2}).eps(d.eps).weight_decay(d.weight_decay));
  else if (d.kind == "adamw")
    m.opt = std::make_unique<to::AdamW>(
        params, to::AdamWOptions(d.lr).betas({d.beta1, d.beta2}).eps(d.eps).weight_decay(d.weight_decay));
  else if (d.kind == "rmsprop")
    m.opt = std::make_unique<to::RMSprop>(params, to::RMSpropOptions(d.lr)
                                                      .alpha(d.alpha)
                                                      .eps(d.eps)
                                                      .weight_decay(d.weight_decay)
                                                      .momentum(d.momentum)
                                                      .centered(false));
  else
    throw std::runtime_error("no libtorch optimiser '" + d.kind + "'");
}

void TorchOptim::step(size_t t) {
  Impl& m = *impl_;
  const size_t i = t % m.grads.size();
  if (i != m.current) {
    torch::NoGradGuard no_grad;
    m.p.mutable_grad().copy_(m.grads[i]);
    m.current = i;
  }
  m.opt->step();
}

std::vector<float> TorchOptim::param() const { return copy_out(impl_->p.detach()); }

}  // namespace nabla_compare
