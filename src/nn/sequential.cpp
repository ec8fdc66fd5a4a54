#include "nabla/nn/sequential.hpp"

#include <cstring>
#include <sstream>

#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/runtime/interrupt.hpp"
#include "nabla/runtime/trace.hpp"
#include "nn/buffer.hpp"
#include "nabla/nn/loss.hpp"
#include "nn/fusion.hpp"

namespace nabla::nn {

namespace nk = nabla::kernels;

// The model runs as a list of steps. A step is one layer, or (with fusion) a
// Dense/Conv2D together with the ReLU/Sigmoid/Tanh that follows it, which
// then runs in the layer's GEMM epilogue (act != None).
//
// Backward keeps, per step s, dz = dLoss/d(the step's output before its
// fused activation). Whoever produces dz_s applies act_s' (the derivative of
// the fused activation, from the stored output y_s): a following Dense does
// it in the epilogue of its dX GEMM, a following Conv2D right after the
// col2im of its dX; any other layer writes dLoss/dy_s and a
// separate activation_backward pass follows; for the last step it is the
// loss gradient, or, for a sigmoid followed by BinaryCrossEntropy, the
// loss's own (A − Y)/N (carried on the gradient tensor, see
// tensor_internal.hpp).
struct Sequential::Step {
  Layer* layer = nullptr;
  int64_t first = 0, last = 0;  // layer indices covered
  nk::Activation act = nk::Activation::None;
  Layer* norm = nullptr;  // eval mode: a BatchNorm folded into this Dense/Conv2D
  Parameter *weight = nullptr, *bias = nullptr;  // with norm: the layer's, folded each forward
  Tensor folded_w, folded_b;
  bool has_params = false;
  bool need_dx = false;  // does anything before this step need dLoss/dx?
  Tensor y, dz;
  // The pre-activation output, kept when act's derivative uses its input
  // (kernels::derivative_uses_input: GELU, SiLU). Such a step runs the layer
  // into z and the activation element-wise into y (the convolution's direct
  // kernels have no second output; the activation is compute-bound, so the
  // extra pass over z costs little); its derivative is still fused into the
  // next layer's backward (D = z).
  Tensor z;
  // A 2×2 stride-2 MaxPool2D run in the Conv2D's forward output
  // (Layer::fuses_max_pool): y and dz are the pooled output's, act is the
  // activation before the pool (its derivative, from the pooled y, is the
  // one the pool's backward would apply before its scatter, so whoever
  // produces dz applies it as for any step); backward scatters dz into
  // unpooled_dz, the convolution's dLoss/dZ.
  Layer* pool = nullptr;
  Tensor unpooled_dz;
};

namespace {

// The name a trace shows for a step: the layer, and the activation (and
// pool) fused into it.
std::string step_name(const Layer& layer, nk::Activation act, const Layer* norm = nullptr,
                      const Layer* pool = nullptr) {
  const std::string base = norm ? layer.name() + " + " + norm->name() : layer.name();
  const std::string with_act = act.is_none() ? base : base + " + " + ActivationLayer(act).name();
  return pool ? with_act + " + " + pool->name() : with_act;
}

}  // namespace

Sequential::Sequential() = default;
Sequential::~Sequential() = default;
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;

Sequential& Sequential::add(std::unique_ptr<Layer> layer) & {
  if (!layer) throw Error("Sequential::add: null layer");
  for (auto& np : layer->named_parameters()) params_.push_back(np.second);
  layer->set_training(training_);
  layer->set_fusion(fusion_);
  layers_.push_back(std::move(layer));
  planned_ = false;
  forward_done_ = false;
  return *this;
}

Layer& Sequential::layer(int64_t i) {
  if (i < 0 || i >= size())
    throw Error("Sequential::layer: index " + std::to_string(i) + " out of range (" +
                std::to_string(size()) + " layers)");
  return *layers_[static_cast<size_t>(i)];
}

void Sequential::set_input_grad(bool on) {
  if (on != input_grad_) planned_ = false;
  input_grad_ = on;
}

Sequential& Sequential::train(bool on) {
  if (on != training_) planned_ = false;  // eval folds BatchNorm into the step before
  training_ = on;
  for (auto& l : layers_) l->set_training(on);
  return *this;
}

std::vector<std::pair<std::string, Buffer>> Sequential::named_buffers() {
  std::vector<std::pair<std::string, Buffer>> out;
  for (size_t i = 0; i < layers_.size(); ++i)
    for (auto& [name, b] : layers_[i]->named_buffers()) out.emplace_back(std::to_string(i) + "." + name, b);
  return out;
}

void Sequential::set_fusion(bool on) {
  if (on != fusion_) planned_ = false;
  fusion_ = on;
  for (auto& l : layers_) l->set_fusion(on);
}

std::vector<int64_t> Sequential::output_shape(const std::vector<int64_t>& input) const {
  if (layers_.empty()) throw Error("Sequential: the model has no layers");
  std::vector<int64_t> shape = input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    try {
      shape = layers_[i]->output_shape(shape);
    } catch (const Error& e) {
      throw Error("layer " + std::to_string(i) + " (" + layers_[i]->name() + "): " + e.what());
    }
  }
  return shape;
}

void Sequential::plan(const std::vector<int64_t>& input) {
  output_shape(input);  // validates every layer first: a failure leaves the old plan intact
  steps_.clear();
  forward_done_ = false;
  std::vector<int64_t> shape = input;
  bool params_before = input_grad_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Step s;
    s.layer = layers_[i].get();
    s.first = s.last = static_cast<int64_t>(i);
    s.has_params = s.layer->num_parameters() > 0;
    s.need_dx = params_before;
    s.layer->prepare(shape);
    shape = s.layer->output_shape(shape);
    // Eval mode: a BatchNorm after a Dense/Conv2D is folded into its weights.
    Tensor probe_w, probe_b;
    const auto wb = s.layer->named_parameters();
    if (fusion_ && !training_ && s.layer->folds_norm() && wb.size() == 2 && i + 1 < layers_.size() &&
        layers_[i + 1]->fold(wb[0].second->value, wb[1].second->value, probe_w, probe_b)) {
      s.norm = layers_[++i].get();
      s.weight = wb[0].second;
      s.bias = wb[1].second;
      s.norm->prepare(shape);
      s.last = static_cast<int64_t>(i);
    }
    // A layer that applies its activation's derivative itself (BatchNorm:
    // wants_output_grad) does so from the output, so an activation whose
    // derivative needs Z (GELU, SiLU) stays a step of its own after it.
    if (fusion_ && s.layer->fuses_activation() && i + 1 < layers_.size() &&
        !layers_[i + 1]->activation().is_none() &&
        !(s.layer->wants_output_grad() && nk::derivative_uses_input(layers_[i + 1]->activation().kind))) {
      s.act = layers_[i + 1]->activation();
      s.last = static_cast<int64_t>(++i);
    }
    // A 2×2 max pool after it (with its activation) runs in the Conv2D's
    // forward output; not with a folded BatchNorm or a kept Z.
    if (fusion_ && !s.norm && i + 1 < layers_.size() && !nk::derivative_uses_input(s.act.kind) &&
        s.layer->fuses_max_pool(*layers_[i + 1])) {
      s.pool = layers_[++i].get();
      s.pool->prepare(shape);
      if (s.need_dx || !s.layer->fuses_max_pool_grad(*s.pool)) s.unpooled_dz = Tensor(shape);
      shape = s.pool->output_shape(shape);
      s.last = static_cast<int64_t>(i);
    }
    s.y = Tensor(shape);
    s.dz = Tensor(shape);
    if (nk::derivative_uses_input(s.act.kind)) s.z = Tensor(shape);
    params_before = params_before || s.has_params;
    steps_.push_back(std::move(s));
  }
  x_ = Tensor();  // allocated by forward(): a borrowed forward has no copy
  out_spare_ = Tensor();
  planned_input_ = input;
  planned_ = true;
}

void Sequential::plan_for(const std::vector<int64_t>& input) {
  if (!planned_ || input != planned_input_) plan(input);
  forward_done_ = false;  // until every layer ran (an interrupt may stop it between two)
}

// Step s on its input: the layer (with a folded BatchNorm, or its fused
// activation) into the step's output.
void Sequential::run_step(size_t s, const Tensor& in) {
  check_interrupt("Sequential::forward");
  Step& sm = steps_[s];
  const trace::LayerScope scope(sm.first, [&] { return step_name(*sm.layer, sm.act, sm.norm, sm.pool); },
                                trace::Pass::Forward);
  if (sm.pool) {
    sm.layer->forward_pool(in, sm.y, sm.act, *sm.pool);
  } else if (sm.norm) {
    sm.norm->fold(sm.weight->value, sm.bias->value, sm.folded_w, sm.folded_b);
    sm.layer->forward_with(in, sm.y, sm.act, sm.folded_w, sm.folded_b);
  } else if (sm.z.numel() > 0) {  // the activation's derivative needs Z: keep it
    sm.layer->forward(in, sm.z, nk::Activation::None);
    nk::activation_forward(sm.act, 1, 1, sm.z.numel(), sm.z.data(), nk::BiasKind::None, nullptr, sm.y.data());
  } else {
    sm.layer->forward(in, sm.y, sm.act);
  }
}

Tensor Sequential::forward(const Tensor& x) {
  plan_for(x.shape());
  if (x_.shape() != planned_input_) x_ = Tensor(planned_input_);
  x_.copy_from(x);
  // The output buffer goes to the caller: if the previous one is still held
  // outside, write into the spare (or a new one) instead.
  Step& last = steps_.back();
  detail::acquire(last.y, out_spare_, last.y.shape());
  for (size_t s = 0; s < steps_.size(); ++s) run_step(s, s == 0 ? x_ : steps_[s - 1].y);
  forward_done_ = true;
  return last.y;
}

const Tensor& Sequential::forward_borrowed(const Tensor& x) {
  plan_for(x.shape());
  for (size_t s = 0; s < steps_.size(); ++s) run_step(s, s == 0 ? x : steps_[s - 1].y);
  forward_done_ = true;
  return steps_.back().y;
}

void Sequential::forward_add(const Tensor& x, const Tensor& r, Tensor& out, nk::Activation act) {
  plan_for(x.shape());
  const size_t n = steps_.size();
  for (size_t s = 0; s + 1 < n; ++s) run_step(s, s == 0 ? x : steps_[s - 1].y);
  Step& last = steps_.back();
  const Tensor& in = n == 1 ? x : steps_[n - 2].y;
  if (fusion_ && last.act.is_none() && !last.norm && !last.pool) {
    check_interrupt("Sequential::forward");
    const trace::LayerScope scope(last.first, [&] {
      return last.layer->name() + " + residual" + (act.is_none() ? std::string() : " + " + ActivationLayer(act).name());
    },
                                  trace::Pass::Forward);
    last.layer->forward_add(in, last.y, r, out, act);
  } else {
    run_step(n - 1, in);
    const trace::LayerScope scope(last.last, [&] { return std::string("residual add"); }, trace::Pass::Forward);
    nk::add_activation_forward(act, out.numel(), last.y.data(), r.data(), out.data());
  }
  forward_done_ = true;
}

void Sequential::check_backward() const {
  if (!forward_done_) throw Error("Sequential::backward: called before forward");
  for (const Step& st : steps_)
    if (st.norm)
      throw Error("Sequential::backward: the model is in eval mode, with layer " + std::to_string(st.last) + " (" +
                  st.norm->name() + ") folded into layer " + std::to_string(st.first) +
                  "; call train() (or set_fusion(false)) before a forward whose gradient you need");
}

Tensor Sequential::backward(const Tensor& dloss) {
  check_backward();
  Step& last = steps_.back();
  if (dloss.shape() != last.y.shape())
    throw Error("Sequential::backward: gradient " + shape_string(dloss.shape()) +
                " does not match the output " + shape_string(last.y.shape()));
  const int64_t n_out = last.y.numel();
  const Tensor* fused_dz = nullptr;
  const bool own_deriv = last.layer->wants_output_grad();  // the layer applies its activation's derivative
  if (fusion_ && !own_deriv && !last.act.is_none())
    if (const Loss* loss = detail::loss_of_gradient(dloss.data())) fused_dz = loss->fused_input_grad(last.act, last.y, dloss);
  if (own_deriv) {
    std::memcpy(last.dz.data(), dloss.data(), static_cast<size_t>(n_out) * sizeof(float));
  } else if (fused_dz != nullptr && fused_dz->shape() == last.y.shape()) {
    std::memcpy(last.dz.data(), fused_dz->data(), static_cast<size_t>(n_out) * sizeof(float));
  } else {
    const trace::LayerScope scope(last.first, [&] { return step_name(*last.layer, last.act); },
                                  trace::Pass::BackwardData);
    nk::activation_backward(last.act, n_out, (last.z.numel() > 0 ? last.z : last.y).data(), dloss.data(),
                            last.dz.data());
  }
  if (input_grad_) detail::acquire(dx_, dx_spare_, planned_input_);
  backward_steps(x_, last.dz, input_grad_ ? &dx_ : nullptr);
  return input_grad_ ? dx_ : Tensor();
}

void Sequential::backward_borrowed(const Tensor& x, const Tensor& dy, Tensor* dx) {
  check_backward();
  Step& last = steps_.back();
  // dy is dLoss/d(the last step's output): used as is unless the step's own
  // activation (not applied by its layer) needs its derivative first. After
  // a fused forward_add the step has no activation.
  if (last.act.is_none() || last.layer->wants_output_grad()) {
    backward_steps(x, dy, dx);
    return;
  }
  {
    const trace::LayerScope scope(last.first, [&] { return step_name(*last.layer, last.act); },
                                  trace::Pass::BackwardData);
    nk::activation_backward(last.act, last.dz.numel(), (last.z.numel() > 0 ? last.z : last.y).data(), dy.data(),
                            last.dz.data());
  }
  backward_steps(x, last.dz, dx);
}

// The steps from the last to the first, given the last step's dz; x is the
// model's input, dx (null: not wanted) receives dLoss/dx.
void Sequential::backward_steps(const Tensor& x, const Tensor& last_dz, Tensor* dx_out) {
  for (size_t s = steps_.size(); s-- > 0;) {
    check_interrupt("Sequential::backward");
    Step& st = steps_[s];
    Step* prev = s > 0 ? &steps_[s - 1] : nullptr;
    const Tensor& dz = s + 1 == steps_.size() ? last_dz : st.dz;
    Tensor* dx = !st.need_dx ? nullptr : prev ? &prev->dz : dx_out;
    // A step that applies its own activation's derivative gets dLoss/d(its output).
    const nk::Activation in_act =
        prev && !prev->layer->wants_output_grad() ? prev->act : nk::Activation::None;
    const bool fuse = fusion_ && st.layer->fuses_input_derivative();
    // A merged pool: dz already has the activation's derivative. Without a
    // dX to compute, the layer may take its gradients from dz and the
    // pool's arg-max directly; else the pool scatters dz first.
    const Tensor* dz_layer = &dz;
    const bool pooled_grad = st.pool && dx == nullptr && st.layer->fuses_max_pool_grad(*st.pool);
    if (st.pool && !pooled_grad) {
      const trace::LayerScope scope(st.last, [&] { return st.pool->name(); }, trace::Pass::BackwardData);
      st.pool->backward(st.unpooled_dz, st.y, dz, &st.unpooled_dz, nk::Activation::None);
      dz_layer = &st.unpooled_dz;
    }
    {
      // The layer marks its weight-gradient kernels (trace::PassScope).
      const trace::LayerScope scope(st.first, [&] { return step_name(*st.layer, st.act); },
                                    trace::Pass::BackwardData);
      if (pooled_grad)
        st.layer->backward_pooled(prev ? prev->y : x, dz, *st.pool);
      else if (fuse && prev && prev->z.numel() > 0)
        st.layer->backward_from(prev->y, prev->z, st.y, *dz_layer, dx, in_act);
      else
        st.layer->backward(prev ? prev->y : x, st.y, *dz_layer, dx, fuse ? in_act : nk::Activation::None);
    }
    if (!st.need_dx) break;
    const trace::LayerScope scope(prev ? prev->last : -1, [&] { return prev ? layers_[static_cast<size_t>(prev->last)]->name() : std::string(); },
                                  trace::Pass::BackwardData);
    if (prev && !fuse && in_act != nk::Activation::None)
      nk::activation_backward(in_act, prev->dz.numel(), (prev->z.numel() > 0 ? prev->z : prev->y).data(),
                              prev->dz.data(), prev->dz.data());
  }
}

std::vector<std::pair<std::string, Parameter*>> Sequential::named_parameters() {
  std::vector<std::pair<std::string, Parameter*>> out;
  for (size_t i = 0; i < layers_.size(); ++i)
    for (auto& [name, p] : layers_[i]->named_parameters())
      out.emplace_back(std::to_string(i) + "." + name, p);
  return out;
}

std::vector<Parameter*> Sequential::parameters() { return params_; }

int64_t Sequential::num_parameters() const {
  int64_t n = 0;
  for (const auto& l : layers_) n += l->num_parameters();
  return n;
}

void Sequential::zero_grad() {
  for (Parameter* p : params_) p->grad.fill(0.f);
}

void Sequential::init(Init scheme, uint64_t seed) {
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->reset_parameters(scheme, seed * 0x9E3779B97F4A7C15ull + i + 1);
}

namespace {

std::string table(const std::vector<std::unique_ptr<Layer>>& layers,
                  const std::vector<std::string>& shapes) {
  std::vector<std::vector<std::string>> rows = {{"#", "layer", "output shape", "parameters"}};
  int64_t total = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    total += layers[i]->num_parameters();
    rows.push_back({std::to_string(i), layers[i]->name(), shapes[i],
                    std::to_string(layers[i]->num_parameters())});
  }
  rows.push_back({"", "total", "", std::to_string(total)});
  // Column widths in characters (UTF-8 continuation bytes not counted).
  auto width = [](const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  std::vector<size_t> w(4, 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < 4; ++c) w[c] = std::max(w[c], width(r[c]));
  std::ostringstream os;
  for (const auto& r : rows) {
    for (size_t c = 0; c < 4; ++c) {
      const std::string pad(w[c] - width(r[c]), ' ');
      os << (c == 3 ? pad + r[c] : r[c] + pad) << (c == 3 ? "\n" : "  ");
    }
  }
  return os.str();
}

}  // namespace

std::string Sequential::summary(const std::vector<int64_t>& input) const {
  output_shape(input);  // throws on a mismatch
  std::vector<std::string> shapes;
  std::vector<int64_t> shape = input;
  for (const auto& l : layers_) {
    shape = l->output_shape(shape);
    shapes.push_back(shape_string(shape));
  }
  return table(layers_, shapes);
}

std::string Sequential::summary() const {
  if (planned_) return summary(planned_input_);
  return table(layers_, std::vector<std::string>(layers_.size(), "?"));
}

}  // namespace nabla::nn
