// libFuzzer: the model-spec parser and, for specs that parse and stay small,
// building the model for a 1×8×8 image input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model_spec.hpp"
#include "nabla/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const nabla::cli::ModelSpec spec = nabla::cli::parse_spec(text);
    if (nabla::cli::parse_spec(spec.to_string()).to_string() != spec.to_string()) __builtin_trap();
    for (const auto& l : spec.layers)
      if (l.units > 64 || l.kernel > 64 || l.pad > 64) return 0;  // keep each run's allocations small
    nabla::cli::build_model(spec, {1, 8, 8}, 4);
  } catch (const nabla::Error&) {
  }
  return 0;
}
