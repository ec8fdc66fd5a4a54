#pragma once
// The layer types the Python module makes classes from: a thin view of the
// nn layer registry (name, documentation, constructor arguments, factory).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nabla/nn/layers.hpp"

namespace nabla::python {

/// One constructor argument.
struct LayerArgInfo {
  std::string name;                     ///< Python keyword: "in_ch"
  std::string type;                     ///< "int", "float" or "bool"
  std::optional<double> default_value;  ///< none: required
  std::string doc;                      ///< one line
};

/// One layer type.
struct LayerTypeInfo {
  std::string name;                 ///< class name: "Conv2D"
  std::string doc;                  ///< docstring paragraph
  std::vector<LayerArgInfo> args;   ///< constructor arguments in order
  std::function<std::unique_ptr<nn::Layer>(const std::vector<double>&)> make;  ///< args.size() values
};

/// Every layer type.
const std::vector<LayerTypeInfo>& layer_types();
/// The type of this name; raises nabla::Error for an unknown one.
const LayerTypeInfo& find_layer_type(const std::string& name);
/// The type name of a layer object ("Conv2D").
std::string layer_type_name(const nn::Layer& layer);

}  // namespace nabla::python
