// The layer registry (registry.hpp): one entry per layer type, the model-spec
// parser and the builder, all reading the entries.
#include "nabla/nn/registry.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "nabla/error.hpp"
#include "nabla/nn/residual.hpp"

namespace nabla::nn {

namespace nk = nabla::kernels;

namespace {

constexpr double kNotGiven = std::numeric_limits<double>::quiet_NaN();
constexpr double kMaxWhole = double(int64_t{1} << 20);  // spec numbers: a typo is an error, not a huge model

int64_t whole(double v) { return static_cast<int64_t>(v); }

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

using Arg = LayerArg;
using T = LayerArg::Type;

Arg int_arg(std::string name, std::optional<double> def, double min, std::string spec_keyword, bool in_spec,
            std::string torch_name, std::string doc) {
  return Arg{std::move(name), T::Int, def, min, std::move(spec_keyword), in_spec, std::move(torch_name), std::move(doc)};
}

TorchEquivalent torch_of(std::string module, std::vector<std::pair<std::string, double>> kwargs,
                         std::string extra = "") {
  TorchEquivalent t;
  t.module = std::move(module);
  t.kwargs = std::move(kwargs);
  t.extra = std::move(extra);
  return t;
}

// Requires image input, for the messages of the image layers.
void need_images(const std::vector<int64_t>& input) {
  if (input.size() != 4)
    throw Error("needs image input [C, H, W], it gets " + shape_string({input.begin() + 1, input.end()}));
}

LayerType entry(std::string name, std::string token, std::string doc) {
  LayerType t;
  t.name = std::move(name);
  t.token = std::move(token);
  t.doc = std::move(doc);
  return t;
}

std::vector<LayerType> make_registry() {
  std::vector<LayerType> r;

  LayerType dense = entry("Dense", "dense",
                   "Fully connected layer: Z = X·Wᵀ + b for X [N, in], W [out, in], b [out] (PyTorch's Linear). "
                   "Initialised with PyTorch's default.");
  dense.args = {int_arg("in_features", std::nullopt, 1, "", false, "in_features", "the number of input features"),
                int_arg("out_features", std::nullopt, 1, "", true, "out_features", "the number of units")};
  dense.input_rank = 2;
  dense.takes_activation = true;
  dense.make = [](const std::vector<double>& a) { return std::make_unique<Dense>(whole(a[0]), whole(a[1])); };
  dense.infer = [](std::vector<double>& a, const std::vector<int64_t>& in) { a[0] = static_cast<double>(in[1]); };
  dense.count_parameters = [](const std::vector<double>& a) { return (a[0] + 1) * a[1]; };
  dense.torch = [](const std::vector<double>& a) {
    return torch_of("Linear", {{"in_features", a[0]}, {"out_features", a[1]}});
  };
  r.push_back(std::move(dense));

  LayerType conv = entry("Conv2D", "conv",
                   "2-D convolution over NCHW input, square kernel, zero padding (PyTorch's Conv2d): weight "
                   "[out_channels, in_channels, kernel, kernel], bias [out_channels]; output side (H + 2·padding − kernel) "
                   "/ stride + 1. Initialised with PyTorch's default.");
  conv.args = {int_arg("in_channels", std::nullopt, 1, "", false, "in_channels", "the number of input channels"),
               int_arg("out_channels", std::nullopt, 1, "", true, "out_channels", "the number of output channels"),
               int_arg("kernel", std::nullopt, 1, "", true, "kernel_size", "the kernel size"),
               int_arg("stride", 1, 1, "stride", true, "stride", "the stride"),
               int_arg("padding", 0, 0, "pad", true, "padding", "the padding")};
  conv.input_rank = 4;
  conv.takes_activation = true;
  conv.make = [](const std::vector<double>& a) {
    return std::make_unique<Conv2D>(whole(a[0]), whole(a[1]), whole(a[2]), whole(a[3]), whole(a[4]));
  };
  conv.infer = [](std::vector<double>& a, const std::vector<int64_t>& in) {
    a[0] = static_cast<double>(in[1]);
    const int64_t k = whole(a[2]), pad = whole(a[4]);
    if (in[2] + 2 * pad < k || in[3] + 2 * pad < k)
      throw Error("kernel " + std::to_string(k) + " is larger than the " + std::to_string(in[2]) + "×" +
                  std::to_string(in[3]) + " input padded by " + std::to_string(pad));
  };
  conv.count_parameters = [](const std::vector<double>& a) { return a[1] * (a[0] * a[2] * a[2] + 1); };
  conv.torch = [](const std::vector<double>& a) {
    return torch_of("Conv2d", {{"in_channels", a[0]}, {"out_channels", a[1]}, {"kernel_size", a[2]},
                               {"stride", a[3]}, {"padding", a[4]}});
  };
  r.push_back(std::move(conv));

  LayerType pool = entry("MaxPool2D", "maxpool",
                   "2-D max pooling over NCHW input, square window, no padding, floor mode (PyTorch's MaxPool2d); "
                   "backward routes each gradient to the window's first maximum.");
  pool.args = {int_arg("kernel", std::nullopt, 1, "", true, "kernel_size", "the window size"),
               int_arg("stride", 0, 0, "stride", true, "stride", "the stride (0: the window size)")};
  pool.input_rank = 4;
  pool.make = [](const std::vector<double>& a) { return std::make_unique<MaxPool2D>(whole(a[0]), whole(a[1])); };
  pool.infer = [](std::vector<double>& a, const std::vector<int64_t>& in) {
    const int64_t k = whole(a[0]);
    if (in[2] < k || in[3] < k)
      throw Error("window " + std::to_string(k) + " is larger than the " + std::to_string(in[2]) + "×" +
                  std::to_string(in[3]) + " input");
  };
  pool.torch = [](const std::vector<double>& a) {
    return torch_of("MaxPool2d", {{"kernel_size", a[0]}, {"stride", a[1] == 0 ? a[0] : a[1]}});
  };
  r.push_back(std::move(pool));

  LayerType flatten = entry("Flatten", "flatten",
                   "[N, d1, …, dk] → [N, d1·…·dk] in C, H, W order (PyTorch's Flatten()).");

  LayerType avgpool;
  avgpool.name = "AvgPool2D";
  avgpool.token = "avgpool";
  avgpool.doc = "2-D average pooling over NCHW input, square window, zero padding counted in the divisor, floor "
                "mode (PyTorch's AvgPool2d with count_include_pad=True): each output is its window's sum / kernel².";
  avgpool.args = {int_arg("kernel", std::nullopt, 1, "", true, "kernel_size", "the window size"),
                  int_arg("stride", 0, 0, "stride", true, "stride", "the stride (0: the window size)"),
                  int_arg("padding", 0, 0, "pad", true, "padding", "the zero padding (at most kernel/2)")};
  avgpool.input_rank = 4;
  avgpool.make = [](const std::vector<double>& a) {
    return std::make_unique<AvgPool2D>(whole(a[0]), whole(a[1]), whole(a[2]));
  };
  avgpool.infer = [](std::vector<double>& a, const std::vector<int64_t>& in) {
    const int64_t k = whole(a[0]), pad = whole(a[2]);
    if (2 * pad > k) throw Error("padding " + std::to_string(pad) + " is more than half the window " + std::to_string(k));
    if (in[2] + 2 * pad < k || in[3] + 2 * pad < k)
      throw Error("window " + std::to_string(k) + " is larger than the " + std::to_string(in[2]) + "×" +
                  std::to_string(in[3]) + " input padded by " + std::to_string(pad));
  };
  avgpool.torch = [](const std::vector<double>& a) {
    return torch_of("AvgPool2d", {{"kernel_size", a[0]}, {"stride", a[1] == 0 ? a[0] : a[1]}, {"padding", a[2]}});
  };
  r.push_back(std::move(avgpool));

  LayerType gap;
  gap.name = "GlobalAvgPool2D";
  gap.token = "gap";
  gap.doc = "Global average pooling: [N, C, H, W] → [N, C, 1, 1], the mean of each plane (PyTorch's "
            "AdaptiveAvgPool2d(1)).";
  gap.input_rank = 4;
  gap.make = [](const std::vector<double>&) { return std::make_unique<GlobalAvgPool2D>(); };
  gap.torch = [](const std::vector<double>&) { return torch_of("AdaptiveAvgPool2d", {{std::string("output_size"), 1.0}}); };
  r.push_back(std::move(gap));

  flatten.make = [](const std::vector<double>&) { return std::make_unique<Flatten>(); };
  flatten.torch = [](const std::vector<double>&) { return torch_of("Flatten", {}); };
  r.push_back(std::move(flatten));

  LayerType softmax = entry("Softmax", "softmax",
                   "Softmax over the last dimension (max-subtracted). A model trained with SoftmaxCrossEntropy "
                   "ends in logits; add Softmax for inference.");
  softmax.make = [](const std::vector<double>&) { return std::make_unique<Softmax>(); };
  softmax.torch = [](const std::vector<double>&) { return torch_of("Softmax", {}, "dim=-1"); };
  r.push_back(std::move(softmax));

  // BatchNorm: one spec token, the entry of the input's rank (build_model).
  for (const int rank : {4, 2}) {
    LayerType bn;
    bn.name = rank == 4 ? "BatchNorm2D" : "BatchNorm1D";
    bn.token = "batchnorm";
    bn.doc = std::string("Batch normalisation over ") + (rank == 4 ? "[N, C, H, W]" : "[N, F]") + " (PyTorch's " +
             (rank == 4 ? "BatchNorm2d" : "BatchNorm1d") + "): batch statistics and momentum-updated running "
             "statistics in training, running statistics in eval; affine weight 1, bias 0 at init. The spec token "
             "'batchnorm' is BatchNorm2D after images, BatchNorm1D after [N, F]; an activation after it runs in the "
             "same pass.";
    bn.args = {int_arg("num_features", std::nullopt, 1, "", false, "num_features", "the number of channels"),
               Arg{"eps", T::Float, 1e-5, 0, "eps", true, "eps", "the value added to the variance"},
               Arg{"momentum", T::Float, 0.1, 0, "momentum", true, "momentum", "the running statistics' momentum",
                   1.0}};
    bn.input_rank = rank;
    bn.takes_activation = true;
    bn.make = [rank](const std::vector<double>& a) -> std::unique_ptr<Layer> {
      if (rank == 4) return std::make_unique<BatchNorm2D>(whole(a[0]), a[1], a[2]);
      return std::make_unique<BatchNorm1D>(whole(a[0]), a[1], a[2]);
    };
    bn.infer = [](std::vector<double>& a, const std::vector<int64_t>& in) { a[0] = static_cast<double>(in[1]); };
    bn.count_parameters = [](const std::vector<double>& a) { return 2 * a[0]; };
    bn.torch = [rank](const std::vector<double>& a) {
      return torch_of(rank == 4 ? "BatchNorm2d" : "BatchNorm1d",
                      {{"num_features", a[0]}, {"eps", a[1]}, {"momentum", a[2]}});
    };
    r.push_back(std::move(bn));
  }

  LayerType dropout;
  dropout.name = "Dropout";
  dropout.token = "dropout";
  dropout.doc = "Dropout (PyTorch's Dropout): in training zeroes each element with probability p and scales the "
                "others by 1/(1 − p); the identity in eval. Masks from the stream manual_seed() seeds.";
  dropout.args = {Arg{"p", T::Float, std::nullopt, 0, "", true, "p", "the drop probability p", 1.0, true}};
  dropout.make = [](const std::vector<double>& a) { return std::make_unique<Dropout>(a[0]); };
  dropout.torch = [](const std::vector<double>& a) { return torch_of("Dropout", {{"p", a[0]}}); };
  r.push_back(std::move(dropout));

  LayerType res;
  res.name = "Residual";
  res.token = "res(";
  res.doc = "y = body(x) + shortcut(x), the shortcut the identity when empty (torchvision's BasicBlock without "
            "its last ReLU); parameters body.j.* and shortcut.j.*. In a spec, 'res( LAYERS )'; when the layers "
            "change the shape, the shortcut is a 1×1 Conv2D with the body's stride followed by BatchNorm2D.";
  res.input_rank = 0;
  res.make = [](const std::vector<double>&) -> std::unique_ptr<Layer> {
    throw Error("Residual is made from its body: nn::Residual(body, shortcut) or 'res( LAYERS )' in a spec");
  };
  res.torch = [](const std::vector<double>&) {
    return torch_of("Residual", {}, "body=torch.nn.Sequential(...), shortcut=torch.nn.Sequential(...)");
  };
  r.push_back(std::move(res));

  // One entry per activation of the table.
  for (const nk::ActivationInfo& row : nk::kActivations) {
    if (row.kind == nk::ActKind::None) continue;
    LayerType act;
    act.name = std::string(row.layer);
    act.token = std::string(row.name);
    act.activation = row.kind;
    act.doc = "Element-wise " + std::string(row.layer) + " (torch.nn." + std::string(row.torch_module) +
              "); any input shape. Runs fused in the preceding Dense/Conv2D's epilogue.";
    if (nk::has_param(row.kind))
      act.args = {Arg{std::string(row.param), T::Float, static_cast<double>(row.param_default),
                      static_cast<double>(row.param_min), "", true, std::string(row.param),
                      "the " + std::string(row.param)}};
    const nk::ActKind kind = row.kind;
    act.make = [kind](const std::vector<double>& a) {
      return std::make_unique<ActivationLayer>(a.empty() ? nk::Activation(kind)
                                                         : nk::Activation(kind, static_cast<float>(a[0])));
    };
    act.torch = [kind](const std::vector<double>& a) {
      const nk::ActivationInfo& info = nk::activation_info(kind);
      TorchEquivalent t;
      t.module = std::string(info.torch_module);
      t.aten_op = std::string(info.torch_op);
      if (!a.empty()) {
        t.kwargs = {{std::string(info.param), a[0]}};
        t.aten_param = a[0];
      }
      if (!info.torch_str_param.empty()) {
        t.aten_str = {std::string(info.torch_str_param), std::string(info.torch_str_value)};
        t.extra = t.aten_str.first + "='" + t.aten_str.second + "'";
      }
      return t;
    };
    r.push_back(std::move(act));
  }
  return r;
}

}  // namespace

// ---- LayerType ----------------------------------------------------------------

void LayerType::check_args(const std::vector<double>& a) const {
  if (a.size() != args.size())
    throw Error(name + ": " + std::to_string(a.size()) + " arguments given, it takes " + std::to_string(args.size()));
  for (size_t i = 0; i < args.size(); ++i) {
    const LayerArg& d = args[i];
    const double v = a[i];
    const std::string what = name + "'s " + d.name + " ";
    if (std::isnan(v)) throw Error(what + "is missing");
    if (!std::isfinite(v)) throw Error(what + "is " + number_text(v) + ", not a finite number");
    if (d.type == T::Int && v != std::floor(v)) throw Error(what + number_text(v) + " is not a whole number");
    if (v < d.min) throw Error(what + number_text(v) + " is less than " + number_text(d.min));
    if (!d.in_range(v)) throw Error(what + number_text(v) + " is not in " + d.range_text());
  }
}

std::string LayerArg::range_text() const {
  if (!max) return ">= " + number_text(min);
  return "[" + number_text(min) + ", " + number_text(*max) + (max_open ? ")" : "]");
}

std::unique_ptr<Layer> LayerType::create(const std::vector<double>& a) const {
  check_args(a);
  return make(a);
}

std::string LayerType::spec_grammar() const {
  auto upper = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  if (name == "Residual") return "res( LAYERS )   (a residual block; a 1×1 conv + batchnorm shortcut when LAYERS change the shape)";
  std::string s = token;
  for (const LayerArg& d : args)
    if (d.in_spec && d.spec_keyword.empty()) s += d.default_value ? " [" + upper(d.name) + "]" : " " + upper(d.name);
  for (const LayerArg& d : args)
    if (d.in_spec && !d.spec_keyword.empty()) s += " [" + d.spec_keyword + " " + upper(d.name) + "]";
  if (takes_activation) s += " [ACT]";
  return s;
}

std::string spec_help() {
  std::string s, acts;
  for (const LayerType& t : layer_types()) {
    if (t.activation != nk::ActKind::None) {
      acts += (acts.empty() ? "" : " | ") + t.spec_grammar();
      continue;
    }
    const std::string line = "  " + t.spec_grammar() + "\n";
    if (s.find(line) == std::string::npos) s += line;  // types sharing a token (batchnorm 1-D/2-D) once
  }
  return s + "  ACT\n  where ACT is one of: " + acts + " (also written 'gelu tanh')\n";
}

const std::vector<LayerType>& layer_types() {
  static const std::vector<LayerType> registry = make_registry();
  return registry;
}

const LayerType* find_layer_type(std::string_view key) {
  for (const LayerType& t : layer_types())
    if (t.name == key || t.token == key) return &t;
  return nullptr;
}

const LayerType& layer_type(std::string_view key) {
  if (const LayerType* t = find_layer_type(key)) return *t;
  std::string known;
  for (const LayerType& t : layer_types()) known += (known.empty() ? "" : ", ") + t.name;
  throw Error("unknown layer type '" + std::string(key) + "' (known: " + known + ")");
}

const LayerType& activation_layer_type(nk::ActKind kind) {
  for (const LayerType& t : layer_types())
    if (t.activation == kind && kind != nk::ActKind::None) return t;
  throw Error("no layer type for activation kind " + std::to_string(static_cast<int>(kind)));
}

TorchEquivalent torch_equivalent(const Layer& layer) { return layer.type().torch(layer.args()); }

std::string TorchEquivalent::python() const {
  std::string s = "torch.nn." + module + "(";
  bool first = true;
  for (const auto& [k, v] : kwargs) {
    s += (first ? "" : ", ") + k + "=" + number_text(v);
    first = false;
  }
  if (!extra.empty()) s += (first ? "" : ", ") + extra;
  return s + ")";
}

// The registry entries of the concrete layers.
const LayerType& Dense::type() const { return layer_type("Dense"); }
const LayerType& Conv2D::type() const { return layer_type("Conv2D"); }
const LayerType& MaxPool2D::type() const { return layer_type("MaxPool2D"); }
const LayerType& Flatten::type() const { return layer_type("Flatten"); }
const LayerType& AvgPool2D::type() const { return layer_type("AvgPool2D"); }
const LayerType& GlobalAvgPool2D::type() const { return layer_type("GlobalAvgPool2D"); }
const LayerType& Softmax::type() const { return layer_type("Softmax"); }
const LayerType& BatchNorm2D::type() const { return layer_type("BatchNorm2D"); }
const LayerType& BatchNorm1D::type() const { return layer_type("BatchNorm1D"); }
const LayerType& Dropout::type() const { return layer_type("Dropout"); }
const LayerType& ActivationLayer::type() const { return activation_layer_type(activation().kind); }

// ---- model specs ----------------------------------------------------------------

namespace {

// Tokens of one layer, consumed left to right.
class Tokens {
 public:
  Tokens(const std::string& text, int index) : index_(index), text_(text) {
    std::istringstream in(text);
    for (std::string t; in >> t;) tokens_.push_back(t);
  }
  bool done() const { return pos_ >= tokens_.size(); }
  const std::string& peek() const { return tokens_[pos_]; }
  std::string take() { return tokens_[pos_++]; }
  // The next token as a value of arg d, checked against its limits.
  double number(const LayerArg& d, const std::string& after) {
    if (done()) throw error("expected " + d.doc + " after '" + after + "'");
    const std::string t = take();
    double v = 0;
    bool ok = false;
    if (d.type == T::Int) {
      int64_t i = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), i);
      ok = ec == std::errc() && p == t.data() + t.size() && i >= d.min && i <= kMaxWhole;
      v = static_cast<double>(i);
      if (!ok)
        throw error(d.doc + " '" + t + "' is not a whole number in [" + number_text(d.min) + ", " +
                    number_text(kMaxWhole) + "]");
    } else {
      char* end = nullptr;
      v = std::strtod(t.c_str(), &end);
      ok = end == t.c_str() + t.size() && !t.empty() && std::isfinite(v) && d.in_range(v);
      if (!ok)
        throw error(d.doc + " '" + t + "' is not a finite number " + (d.max ? "in " : "") + d.range_text());
    }
    return v;
  }
  // Whether the next token is a number (an optional positional argument).
  bool number_next() const {
    if (done()) return false;
    const std::string& t = peek();
    char* end = nullptr;
    std::strtod(t.c_str(), &end);
    return end == t.c_str() + t.size() && !t.empty();
  }
  Error error(const std::string& what) const {
    return Error("model spec, layer " + std::to_string(index_) + " '" + text_ + "': " + what);
  }

 private:
  int index_;
  std::string text_;
  std::vector<std::string> tokens_;
  size_t pos_ = 0;
};

std::string known_tokens() {
  std::string s;
  for (const LayerType& t : layer_types())
    if (&t == find_layer_type(t.token)) s += (s.empty() ? "" : ", ") + t.token;  // a shared token once
  return s;
}

// The positional arguments of a type in a spec: required ones must be there,
// optional ones are taken when a number follows.
void parse_args(const LayerType& type, Tokens& t, std::vector<double>& args, const std::string& head) {
  std::string last = head;
  for (size_t i = 0; i < type.args.size(); ++i) {
    const LayerArg& d = type.args[i];
    if (!d.in_spec || !d.spec_keyword.empty()) continue;
    if (d.default_value && !t.number_next()) continue;
    args[i] = t.number(d, last);
    last = std::to_string(whole(args[i]));
  }
  while (!t.done()) {
    size_t i = 0;
    while (i < type.args.size() && !(type.args[i].in_spec && type.args[i].spec_keyword == t.peek())) ++i;
    if (i == type.args.size()) break;
    const std::string kw = t.take();
    args[i] = t.number(type.args[i], kw);
  }
}

ModelSpec parse_model(const std::string& text, int first_index);

// "gelu tanh" is another spelling of "gelu_tanh" (torch's GELU(approximate='tanh')).
std::string gelu_tanh_spelling(std::string token, Tokens& t) {
  if (token == "gelu" && !t.done() && t.peek() == "tanh") {
    t.take();
    return "gelu_tanh";
  }
  return token;
}

LayerSpec parse_layer(const std::string& text, int index) {
  // "res( LAYERS )": a Residual whose body is the inner model.
  const size_t lead = text.find_first_not_of(" \t\n");
  if (lead != std::string::npos && text.compare(lead, 3, "res") == 0 &&
      text.find_first_not_of(" \t\n", lead + 3) != std::string::npos &&
      text[text.find_first_not_of(" \t\n", lead + 3)] == '(') {
    const size_t open = text.find('(', lead);
    const size_t close = text.find_last_of(')');
    const auto error = [&](const std::string& what) {
      return Error("model spec, layer " + std::to_string(index) + " '" + text + "': " + what);
    };
    if (close == std::string::npos || close < open) throw error("unclosed 'res(' (expected ')')");
    if (text.find_first_not_of(" \t\n", close + 1) != std::string::npos)
      throw error("unexpected '" + text.substr(close + 1) + "' after 'res( … )'");
    const std::string inner = text.substr(open + 1, close - open - 1);
    if (inner.find_first_not_of(" \t\n") == std::string::npos) throw error("empty 'res()': a block needs layers");
    LayerSpec l;
    l.type = &layer_type("Residual");
    l.body = parse_model(inner, 0).layers;
    return l;
  }
  Tokens t(text, index);
  if (t.done()) throw t.error("empty layer (two '|' in a row, or one at an end)");
  LayerSpec l;
  std::string head = t.take();
  head = gelu_tanh_spelling(head, t);
  const LayerType* type = nullptr;
  for (const LayerType& lt : layer_types())
    if (lt.token == head) type = &lt;
  if (!type) throw t.error("unknown layer '" + head + "' (expected one of " + known_tokens() + ")");
  l.type = type;
  l.args.assign(type->args.size(), kNotGiven);
  parse_args(*type, t, l.args, head);
  if (type->takes_activation && !t.done()) {
    const LayerType* act = find_layer_type(t.peek());
    if (act && act->activation != nk::ActKind::None && act->token == t.peek()) {
      const std::string name = gelu_tanh_spelling(t.take(), t);
      act = find_layer_type(name);
      std::vector<double> a(act->args.size(), kNotGiven);
      parse_args(*act, t, a, name);
      l.act = a.empty() || std::isnan(a[0]) ? nk::Activation(act->activation)
                                            : nk::Activation(act->activation, static_cast<float>(a[0]));
    }
  }
  if (!t.done()) throw t.error("unexpected '" + t.peek() + "'");
  return l;
}

}  // namespace

double LayerSpec::arg(std::string_view name) const {
  for (size_t i = 0; i < type->args.size(); ++i)
    if (type->args[i].name == name) return args[i];
  return kNotGiven;
}

std::string LayerSpec::to_string() const {
  if (type->name == "Residual") {
    std::string s = "res( ";
    for (size_t i = 0; i < body.size(); ++i) s += (i ? " | " : "") + body[i].to_string();
    return s + " )";
  }
  std::string s = type->token;
  auto value = [](double v) { return number_text(v); };
  for (size_t i = 0; i < args.size(); ++i) {
    const LayerArg& d = type->args[i];
    if (!d.in_spec || !d.spec_keyword.empty() || std::isnan(args[i])) continue;
    if (d.default_value && args[i] == *d.default_value) continue;
    s += " " + value(args[i]);
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const LayerArg& d = type->args[i];
    if (!d.in_spec || d.spec_keyword.empty() || std::isnan(args[i])) continue;
    if (d.default_value && args[i] == *d.default_value) continue;
    s += " " + d.spec_keyword + " " + value(args[i]);
  }
  if (!act.is_none()) {
    s += " " + std::string(act.info().name);
    if (nk::has_param(act.kind) && act.param != act.info().param_default) s += " " + value(act.param);
  }
  return s;
}

std::string ModelSpec::to_string() const {
  std::string s;
  for (const auto& l : layers) s += (s.empty() ? "" : " | ") + l.to_string();
  return s;
}

namespace {

// The next '|' outside parentheses at or after start, or npos.
size_t find_bar(const std::string& text, size_t start) {
  int depth = 0;
  for (size_t i = start; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')' && depth > 0) --depth;
    if (text[i] == '|' && depth == 0) return i;
  }
  return std::string::npos;
}

ModelSpec parse_model(const std::string& text, int first_index) {
  ModelSpec spec;
  size_t start = 0;
  for (int index = first_index;; ++index) {
    const size_t bar = find_bar(text, start);
    spec.layers.push_back(parse_layer(text.substr(start, bar == std::string::npos ? bar : bar - start), index));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return spec;
}

}  // namespace

ModelSpec parse_spec(const std::string& text) {
  return parse_model(text, 0);
}

Sequential build_model(const ModelSpec& spec, const std::vector<int64_t>& sample_shape) {
  Sequential m;
  std::vector<int64_t> shape = {1};  // batch of one, then the sample
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  // Limits that keep a typo ("conv 5 8958 pad 9059") a clear error instead
  // of a multi-gigabyte allocation: parameters of the whole model, and the
  // values one sample has after any layer.
  constexpr double kMaxParameters = double(int64_t{1} << 28);  // 1 GiB of floats
  constexpr double kMaxSampleValues = double(int64_t{1} << 24);  // 64 MiB per sample
  double parameters = 0;
  auto add = [&](std::unique_ptr<Layer> layer) {
    shape = layer->output_shape(shape);
    double values = 1;
    for (size_t d = 1; d < shape.size(); ++d) values *= static_cast<double>(shape[d]);
    if (values > kMaxSampleValues)
      throw Error("its output " + shape_string({shape.begin() + 1, shape.end()}) + " has " +
                  std::to_string(static_cast<int64_t>(values)) + " values per sample, more than the limit of " +
                  std::to_string(static_cast<int64_t>(kMaxSampleValues)));
    m.add(std::move(layer));
  };
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    try {
      const LayerType* typed = l.type;  // an entry sharing the token that takes this rank (batchnorm)
      for (const LayerType& t : layer_types())
        if (t.token == typed->token && typed->input_rank != 0 && t.input_rank == static_cast<int>(shape.size()))
          typed = &t;
      const LayerType& type = *typed;
      if (type.name == "Residual") {
        // The body from the block's input; a shortcut when it changes the
        // shape: a 1×1 convolution with the body's stride, then batch norm
        // (torchvision's BasicBlock downsample).
        const std::vector<int64_t> sample(shape.begin() + 1, shape.end());
        Sequential body = build_model(ModelSpec{l.body}, sample);
        parameters += static_cast<double>(body.num_parameters());
        const std::vector<int64_t> out = body.output_shape(shape);
        Sequential shortcut;
        if (out != shape) {
          if (shape.size() != 4 || out.size() != 4)
            throw Error("the block changes the shape " + shape_string(sample) + " to " +
                        shape_string({out.begin() + 1, out.end()}) + ", which only image blocks may (1×1 conv shortcut)");
          int64_t stride = 1;
          while (stride <= shape[2] && ((shape[2] - 1) / stride + 1 != out[2] || (shape[3] - 1) / stride + 1 != out[3]))
            ++stride;
          if (stride > shape[2])
            throw Error("no 1×1 convolution shortcut maps " + shape_string(sample) + " to " +
                        shape_string({out.begin() + 1, out.end()}));
          shortcut.add(Conv2D(shape[1], out[1], 1, stride, 0));
          shortcut.add(BatchNorm2D(out[1]));
          parameters += static_cast<double>(shortcut.num_parameters());
        }
        add(std::make_unique<Residual>(std::move(body), std::move(shortcut)));
        continue;
      }
      if (type.input_rank == 2 && shape.size() > 2) add(layer_type("Flatten").create({}));
      if (type.input_rank == 4) need_images(shape);
      std::vector<double> args = l.args;
      for (size_t a = 0; a < args.size(); ++a)
        if (std::isnan(args[a]) && type.args[a].default_value) args[a] = *type.args[a].default_value;
      if (type.infer) type.infer(args, shape);
      type.check_args(args);
      if (type.count_parameters) {
        parameters += type.count_parameters(args);
        if (parameters > kMaxParameters)
          throw Error("the layer would bring the model to " + std::to_string(static_cast<int64_t>(parameters)) +
                      " parameters, more than the limit of " + std::to_string(static_cast<int64_t>(kMaxParameters)));
      }
      add(type.make(args));
      if (!l.act.is_none()) add(std::make_unique<ActivationLayer>(l.act));
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind("model spec", 0) == 0) throw;
      throw Error("model spec, layer " + std::to_string(i) + " '" + l.to_string() + "': " + what);
    }
  }
  return m;
}

Sequential from_spec(const std::string& text, const std::vector<int64_t>& sample_shape) {
  return build_model(parse_spec(text), sample_shape);
}

}  // namespace nabla::nn
