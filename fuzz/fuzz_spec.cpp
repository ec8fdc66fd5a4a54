// libFuzzer: the model-spec parser and, for specs that parse and stay small,
// building the model for a 1×8×8 image input.
#include <cstddef>
#include <cstdint>
#include <vector>
#include <string>

#include "nabla/nn/presets.hpp"
#include "nabla/error.hpp"
#include "fuzz_seeds.hpp"

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

std::vector<std::string> nabla_fuzz_seeds() {
  std::vector<std::string> s;
  for (const auto& p : nabla::nn::presets()) s.push_back(p.spec);
  s.push_back("conv 4 3 pad 1 | batchnorm gelu tanh | res( conv 4 3 pad 1 relu | dropout 0.5 | conv 4 3 pad 1 ) | "
              "avgpool 2 stride 1 pad 1 | gap | dense 3 leakyrelu 0.2");
  s.push_back("res(conv 8 3 stride 2 pad 1 silu|conv 8 3 pad 1) | maxpool 2 | flatten | dense 2 elu 0.5 | softmax");
  return s;
}
