#pragma once
// libtorch as a peer of nabla_compare, behind an interface that includes no
// libtorch header: torch_peer.cpp is the only translation unit that sees
// <torch/torch.h> (slow to compile, and built with libtorch's own flags).
// Built (and NABLA_HAVE_TORCH defined) only when CMake finds libtorch.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace nabla_compare {

/// One layer of a network, as torch builds it: nabla's layer registry
/// describes it (nn::torch_equivalent), so no layer type is listed here.
struct LayerDesc {
  std::string module;  ///< torch.nn module: "Linear", "Conv2d", "MaxPool2d", "Flatten", "Softmax", "ReLU", …
  std::vector<std::pair<std::string, double>> kwargs;  ///< its arguments by torch's names
  /// An element-wise activation: its ATen operator ("relu", "leaky_relu")
  /// and parameter, called through the dispatcher (any row of nabla's
  /// activation table, without a case here).
  std::string aten_op;
  std::optional<double> aten_param;
  /// Its string argument by name ({"approximate", "tanh"}), if any.
  std::pair<std::string, std::string> aten_str;
  /// module "Residual": its branches (an empty shortcut is the identity).
  std::vector<LayerDesc> body, shortcut;
  /// kwargs[name]; throws std::runtime_error when it is not there.
  double arg(const std::string& name) const {
    for (const auto& [k, v] : kwargs)
      if (k == name) return v;
    throw std::runtime_error("torch layer " + module + ": no argument " + name);
  }
};

/// A network and its loss: classes == 1: the network ends in a sigmoid,
/// binary cross-entropy against 0/1 targets [N, 1]; classes > 1: logits,
/// cross-entropy against class indices [N] (stored as floats).
struct NetDesc {
  std::vector<LayerDesc> layers;
  std::vector<int64_t> sample;  ///< one input sample's shape
  int64_t classes = 1;
};

/// Whether libtorch was found at build time, and its version ("1.13.1").
bool torch_built();
std::string torch_version();
/// torch::set_num_threads(t) when t differs from the last call (the first
/// call also sets at::set_num_interop_threads(1)).
void torch_set_threads(int threads);

/// A torch::nn::Sequential built from a NetDesc, trained with SGD with
/// momentum on a pool of batches (copied in once).
class TorchNet {
 public:
  /// params: the initial values in named_parameters() order (copied in);
  /// xs / ts: the pool of input batches [batch, sample...] and targets.
  TorchNet(const NetDesc& net, int64_t batch, const std::vector<std::vector<float>>& params,
           const std::vector<const float*>& xs, const std::vector<const float*>& ts, float lr, float momentum);
  ~TorchNet();
  /// Parameter values back to the initial ones; a fresh optimiser (no momentum).
  void reset();
  /// zero_grad, forward, loss, backward, SGD step on batch i of the pool.
  float train_step(size_t i);
  /// forward, loss, backward on batch i (no step): the loss; grads() then
  /// holds the gradients in named_parameters() order.
  float loss_and_grads(size_t i);
  std::vector<std::vector<float>> grads() const;
  /// Forward alone, without autograd (inference mode), on batch i; out()
  /// returns the last one's output.
  void infer(size_t i);
  std::vector<float> out() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One convolution layer through ATen: forward = conv2d + ReLU; backward
/// passes through at::convolution_backward (what autograd runs).
class TorchConv {
 public:
  enum class Pass { Forward, BackwardData, BackwardWeights };
  /// Shapes as nabla's ConvParams (square stride/pad, no dilation);
  /// src, w, b, dz are copied.
  TorchConv(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t c_out, int64_t k, int64_t stride, int64_t pad,
            const float* src, const float* weight, const float* bias, const float* dz);
  ~TorchConv();
  void run(Pass p);
  /// The last results: dst (forward), dsrc (backward-data), dw and db (backward-weights).
  std::vector<float> dst() const;
  std::vector<float> dsrc() const;
  std::vector<float> dw() const;
  std::vector<float> db() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A torch.optim optimiser's hyper-parameters (libtorch's names).
struct OptimDesc {
  std::string kind;  ///< "sgd", "adam", "adamw", "rmsprop"
  float lr = 1e-3f, momentum = 0.f, weight_decay = 0.f;
  bool nesterov = false;                                  ///< sgd
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;        ///< adam, adamw (eps: rmsprop too)
  float alpha = 0.99f;                                    ///< rmsprop
};

/// One parameter of n floats updated by a libtorch optimiser from a pool
/// of gradients (copied in once): step t uses gradient t mod the pool.
class TorchOptim {
 public:
  TorchOptim(const OptimDesc& desc, int64_t n, const float* init, const std::vector<const float*>& grads);
  ~TorchOptim();
  /// The parameter back to its initial value; a fresh optimiser (no state).
  void reset();
  /// One optimiser step with gradient t of the pool (already in place for
  /// the same t as the last call: the timed step copies nothing).
  void step(size_t t);
  std::vector<float> param() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nabla_compare
