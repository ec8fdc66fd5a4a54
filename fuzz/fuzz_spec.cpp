// libFuzzer: the model-spec parser and, for specs that parse and stay small,
// building the model for a 1×8×8 image input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nabla/nn/presets.hpp"
#include "nabla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const nabla::nn::ModelSpec spec = nabla::nn::parse_spec(text);
    if (nabla::nn::parse_spec(spec.to_string()).to_string() != spec.to_string()) __builtin_trap();
    for (const auto& l : spec.layers)  // keep each run's allocations small
      for (double a : l.args)
        if (a > 64) return 0;
    nabla::nn::build_classifier(spec, {1, 8, 8}, 4);
  } catch (const nabla::Error&) {
  }
  return 0;
}
