#include "layer_table.hpp"

#include "nabla/error.hpp"

namespace nabla::python {

// Until the nn layer registry lands: Dense only (what the tests need).
const std::vector<LayerTypeInfo>& layer_types() {
  static const std::vector<LayerTypeInfo> types = [] {
    std::vector<LayerTypeInfo> t;
    t.push_back({"Dense",
                 "Fully connected layer: Z = X·Wᵀ + b for X [N, in], W [out, in], b [out] "
                 "(torch.nn.Linear). Initialised with PyTorch's default from the manual_seed() generator.",
                 {{"in_features", "int", std::nullopt, "input features (>= 1)"},
                  {"out_features", "int", std::nullopt, "output features (>= 1)"}},
                 [](const std::vector<double>& a) -> std::unique_ptr<nn::Layer> {
                   return std::make_unique<nn::Dense>(static_cast<int64_t>(a[0]), static_cast<int64_t>(a[1]));
                 }});
    return t;
  }();
  return types;
}

const LayerTypeInfo& find_layer_type(const std::string& name) {
  for (const auto& t : layer_types())
    if (t.name == name) return t;
  throw Error("nabla.nn: unknown layer type '" + name + "'");
}

std::string layer_type_name(const nn::Layer& layer) {
  const std::string n = layer.name();
  return n.substr(0, n.find(' '));
}

}  // namespace nabla::python
