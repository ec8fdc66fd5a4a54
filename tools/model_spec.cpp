#include "model_spec.hpp"

#include <charconv>
#include <sstream>

#include "nabla/error.hpp"

namespace nabla::cli {

namespace nk = nabla::kernels;

namespace {

constexpr int64_t kMaxNumber = int64_t{1} << 20;

const char* act_name(nk::Activation a) {
  switch (a) {
    case nk::Activation::ReLU: return "relu";
    case nk::Activation::Sigmoid: return "sigmoid";
    case nk::Activation::Tanh: return "tanh";
    default: return "";
  }
}

bool parse_act(const std::string& t, nk::Activation& a) {
  if (t == "relu") a = nk::Activation::ReLU;
  else if (t == "sigmoid") a = nk::Activation::Sigmoid;
  else if (t == "tanh") a = nk::Activation::Tanh;
  else return false;
  return true;
}

std::string layer_text(const LayerSpec& l) {
  std::string s;
  auto act = [&] { return l.act == nk::Activation::None ? std::string() : std::string(" ") + act_name(l.act); };
  switch (l.kind) {
    case LayerKind::Dense: return "dense " + std::to_string(l.units) + act();
    case LayerKind::Conv:
      s = "conv " + std::to_string(l.units) + " " + std::to_string(l.kernel);
      if (l.stride != 0) s += " stride " + std::to_string(l.stride);
      if (l.pad != 0) s += " pad " + std::to_string(l.pad);
      return s + act();
    case LayerKind::MaxPool:
      return "maxpool " + std::to_string(l.kernel) + (l.stride != 0 ? " stride " + std::to_string(l.stride) : "");
    case LayerKind::Flatten: return "flatten";
    case LayerKind::ReLU: return "relu";
    case LayerKind::Sigmoid: return "sigmoid";
    case LayerKind::Tanh: return "tanh";
    case LayerKind::Softmax: return "softmax";
  }
  return "?";
}

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
  int64_t number(const char* what, int64_t min) {
    if (done()) throw error(std::string("expected ") + what + " after '" + tokens_[pos_ - 1] + "'");
    const std::string t = take();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || v < min || v > kMaxNumber)
      throw error(std::string(what) + " '" + t + "' is not a whole number in [" + std::to_string(min) + ", " +
                  std::to_string(kMaxNumber) + "]");
    return v;
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

LayerSpec parse_layer(const std::string& text, int index) {
  Tokens t(text, index);
  if (t.done()) throw t.error("empty layer (two '|' in a row, or one at an end)");
  LayerSpec l;
  const std::string kind = t.take();
  auto optional_act = [&] {
    if (!t.done() && parse_act(t.peek(), l.act)) t.take();
  };
  if (kind == "dense") {
    l.kind = LayerKind::Dense;
    l.units = t.number("the number of units", 1);
    optional_act();
  } else if (kind == "conv") {
    l.kind = LayerKind::Conv;
    l.units = t.number("the number of output channels", 1);
    l.kernel = t.number("the kernel size", 1);
    while (!t.done() && (t.peek() == "stride" || t.peek() == "pad")) {
      if (t.take() == "stride") l.stride = t.number("the stride", 1);
      else l.pad = t.number("the padding", 0);
    }
    optional_act();
  } else if (kind == "maxpool") {
    l.kind = LayerKind::MaxPool;
    l.kernel = t.number("the window size", 1);
    if (!t.done() && t.peek() == "stride") {
      t.take();
      l.stride = t.number("the stride", 1);
    }
  } else if (kind == "flatten") {
    l.kind = LayerKind::Flatten;
  } else if (kind == "relu") {
    l.kind = LayerKind::ReLU;
  } else if (kind == "sigmoid") {
    l.kind = LayerKind::Sigmoid;
  } else if (kind == "tanh") {
    l.kind = LayerKind::Tanh;
  } else if (kind == "softmax") {
    l.kind = LayerKind::Softmax;
  } else {
    throw t.error("unknown layer '" + kind + "' (expected dense, conv, maxpool, flatten, relu, sigmoid, tanh or softmax)");
  }
  if (!t.done()) throw t.error("unexpected '" + t.peek() + "'");
  return l;
}

}  // namespace

std::string ModelSpec::to_string() const {
  std::string s;
  for (const auto& l : layers) {
    if (!s.empty()) s += " | ";
    s += layer_text(l);
  }
  return s;
}

ModelSpec parse_spec(const std::string& text) {
  ModelSpec spec;
  size_t start = 0;
  for (int index = 0;; ++index) {
    const size_t bar = text.find('|', start);
    spec.layers.push_back(parse_layer(text.substr(start, bar == std::string::npos ? bar : bar - start), index));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return spec;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> list = {
      {"logreg", "dense 1 sigmoid", "logistic regression (binary: needs --classes A,B)"},
      {"mlp-tanh", "dense 64 tanh | dense 1 sigmoid", "one tanh hidden layer (binary)"},
      {"mlp-relu", "dense 64 relu | dense 1 sigmoid", "one ReLU hidden layer (binary)"},
      {"deep-sigmoid", "dense 128 relu | dense 64 relu | dense 32 relu | dense 1 sigmoid", "deep ReLU net, sigmoid output (binary)"},
      {"deep-softmax", "dense 256 relu | dense 128 relu | dense 64 relu | dense 10", "deep ReLU net, 10 classes"},
      {"cnn-sigmoid", "conv 8 5 relu | maxpool 2 | dense 32 relu | dense 1 sigmoid", "small CNN, sigmoid output (binary)"},
      {"cnn-softmax", "conv 16 5 relu | maxpool 2 | conv 32 5 relu | maxpool 2 | dense 128 relu | dense 10",
       "two conv blocks, 10 classes"},
      {"lenet", "conv 6 5 pad 2 relu | maxpool 2 | conv 16 5 relu | maxpool 2 | dense 120 relu | dense 84 relu | dense 10",
       "LeNet-5 with ReLU, 10 classes"},
      {"mlp", "dense 256 relu | dense 128 relu | dense 10", "784-256-128-10 MLP, 10 classes"},
      {"cnn", "conv 32 3 pad 1 relu | maxpool 2 | conv 64 3 pad 1 relu | maxpool 2 | dense 128 relu | dense 10",
       "the default CNN, 10 classes"},
  };
  return list;
}

std::string resolve_model(const std::string& preset_or_spec) {
  for (const Preset& p : presets())
    if (preset_or_spec == p.name) return p.spec;
  return preset_or_spec;
}

std::unique_ptr<nn::Layer> make_conv2d(int64_t in_ch, int64_t out_ch, int64_t kernel, int64_t stride, int64_t pad) {
  return std::make_unique<nn::Conv2D>(in_ch, out_ch, kernel, stride, pad);
}

BuiltModel build_model(const ModelSpec& spec, const std::vector<int64_t>& sample_shape, int64_t num_classes) {
  BuiltModel out;
  nn::Sequential& m = out.model;
  std::vector<int64_t> shape = {1};  // batch of one, then the sample
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  // Limits that keep a typo ("conv 5 8958 pad 9059") a clear error instead
  // of a multi-gigabyte allocation: parameters of the whole model, and the
  // values one sample has after any layer.
  constexpr double kMaxParameters = double(int64_t{1} << 28);      // 1 GiB of floats
  constexpr double kMaxSampleValues = double(int64_t{1} << 24);    // 64 MiB per sample
  double parameters = 0;
  auto reserve = [&](double count, const std::string& what) {
    parameters += count;
    if (parameters > kMaxParameters)
      throw Error(what + " would bring the model to " + std::to_string(static_cast<int64_t>(parameters)) +
                  " parameters, more than the limit of " + std::to_string(static_cast<int64_t>(kMaxParameters)));
  };
  auto check_sample = [&] {
    double values = 1;
    for (size_t d = 1; d < shape.size(); ++d) values *= static_cast<double>(shape[d]);
    if (values > kMaxSampleValues)
      throw Error("its output " + shape_string({shape.begin() + 1, shape.end()}) + " has " +
                  std::to_string(static_cast<int64_t>(values)) + " values per sample, more than the limit of " +
                  std::to_string(static_cast<int64_t>(kMaxSampleValues)));
  };
  auto add = [&](std::unique_ptr<nn::Layer> layer) {
    shape = layer->output_shape(shape);
    m.add(std::move(layer));
    check_sample();
  };
  auto add_act = [&](nk::Activation a) {
    if (a == nk::Activation::ReLU) add(std::make_unique<nn::ReLU>());
    else if (a == nk::Activation::Sigmoid) add(std::make_unique<nn::Sigmoid>());
    else if (a == nk::Activation::Tanh) add(std::make_unique<nn::Tanh>());
  };
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    auto fail = [&](const std::string& what) {
      return Error("model spec, layer " + std::to_string(i) + " '" + layer_text(l) + "': " + what);
    };
    try {
      switch (l.kind) {
        case LayerKind::Dense:
          if (shape.size() > 2) add(std::make_unique<nn::Flatten>());
          reserve((static_cast<double>(shape[1]) + 1) * static_cast<double>(l.units), "the dense layer");
          add(std::make_unique<nn::Dense>(shape[1], l.units));
          add_act(l.act);
          break;
        case LayerKind::Conv: {
          if (shape.size() != 4)
            throw fail("needs image input [C, H, W], it gets " + shape_string({shape.begin() + 1, shape.end()}));
          const int64_t stride = l.stride == 0 ? 1 : l.stride;
          for (int d : {2, 3})
            if (shape[static_cast<size_t>(d)] + 2 * l.pad < l.kernel)
              throw fail("kernel " + std::to_string(l.kernel) + " is larger than the " +
                         std::to_string(shape[2]) + "×" + std::to_string(shape[3]) + " input padded by " +
                         std::to_string(l.pad));
          const int64_t in_ch = shape[1];
          reserve(static_cast<double>(l.units) *
                      (static_cast<double>(in_ch) * static_cast<double>(l.kernel) * static_cast<double>(l.kernel) + 1),
                  "the convolution");
          shape = {shape[0], l.units, (shape[2] + 2 * l.pad - l.kernel) / stride + 1,
                   (shape[3] + 2 * l.pad - l.kernel) / stride + 1};
          check_sample();
          m.add(make_conv2d(in_ch, l.units, l.kernel, stride, l.pad));
          add_act(l.act);
          break;
        }
        case LayerKind::MaxPool:
          if (shape.size() != 4)
            throw fail("needs image input [C, H, W], it gets " + shape_string({shape.begin() + 1, shape.end()}));
          if (shape[2] < l.kernel || shape[3] < l.kernel)
            throw fail("window " + std::to_string(l.kernel) + " is larger than the " + std::to_string(shape[2]) +
                       "×" + std::to_string(shape[3]) + " input");
          add(std::make_unique<nn::MaxPool2D>(l.kernel, l.stride));
          break;
        case LayerKind::Flatten: add(std::make_unique<nn::Flatten>()); break;
        case LayerKind::ReLU: add_act(nk::Activation::ReLU); break;
        case LayerKind::Sigmoid: add_act(nk::Activation::Sigmoid); break;
        case LayerKind::Tanh: add_act(nk::Activation::Tanh); break;
        case LayerKind::Softmax:
          if (i + 1 == spec.layers.size())
            throw fail("a model ends in logits: drop the final softmax (the loss and eval apply it)");
          add(std::make_unique<nn::Softmax>());
          break;
      }
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind("model spec", 0) == 0) throw;
      throw fail(what);
    }
  }
  if (shape.size() != 2)
    throw Error("model spec: the model ends in " + shape_string({shape.begin() + 1, shape.end()}) +
                " per sample; end with a dense layer giving one value per class");
  out.outputs = shape[1];
  const LayerSpec& last = spec.layers.back();
  out.ends_in_sigmoid = last.kind == LayerKind::Sigmoid ||
                        ((last.kind == LayerKind::Dense || last.kind == LayerKind::Conv) &&
                         last.act == nk::Activation::Sigmoid);
  if (out.outputs == 1) {
    if (num_classes != 2)
      throw Error("model spec: the model has 1 output (binary) but the data has " + std::to_string(num_classes) +
                  " classes; pick two with --classes A,B or end with 'dense " + std::to_string(num_classes) + "'");
  } else {
    if (out.ends_in_sigmoid)
      throw Error("model spec: a sigmoid on " + std::to_string(out.outputs) +
                  " outputs; multi-class models end in logits (no activation after the last dense)");
    if (out.outputs != num_classes)
      throw Error("model spec: the model has " + std::to_string(out.outputs) + " outputs but the data has " +
                  std::to_string(num_classes) + " classes" +
                  (num_classes == 2 ? " (for two classes end with 'dense 1 sigmoid' or 'dense " + std::to_string(num_classes) + "')" : ""));
  }
  return out;
}

}  // namespace nabla::cli
