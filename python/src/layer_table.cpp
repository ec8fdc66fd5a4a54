#include "layer_table.hpp"

#include "nabla/error.hpp"
#include "nabla/nn/registry.hpp"

namespace nabla::python {

// A view of nn::layer_types(), made once: the registry is the only list of
// layer types; nothing here names one.
const std::vector<LayerTypeInfo>& layer_types() {
  static const std::vector<LayerTypeInfo> types = [] {
    std::vector<LayerTypeInfo> out;
    for (const nn::LayerType& t : nn::layer_types()) {
      LayerTypeInfo info;
      info.name = t.name;
      info.doc = t.doc;
      for (const nn::LayerArg& a : t.args)
        info.args.push_back({a.name, a.type == nn::LayerArg::Type::Int ? "int" : "float", a.default_value, a.doc});
      const nn::LayerType* type = &t;  // registry entries live for the program
      info.make = [type](const std::vector<double>& args) { return type->create(args); };
      out.push_back(std::move(info));
    }
    return out;
  }();
  return types;
}

const LayerTypeInfo& find_layer_type(const std::string& name) {
  for (const auto& t : layer_types())
    if (t.name == name) return t;
  throw Error("nabla.nn: unknown layer type '" + name + "'");
}

std::string layer_type_name(const nn::Layer& layer) { return layer.type().name; }

}  // namespace nabla::python
