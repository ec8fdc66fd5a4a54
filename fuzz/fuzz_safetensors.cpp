// libFuzzer: the safetensors loader, both into a fixed model and as a
// generic tensor file. The input goes through a file, which is what the
// loaders read.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "nabla/error.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/nabla_fuzz_safetensors_" + std::to_string(::getpid());
  static nabla::nn::Sequential model = [] {
    nabla::nn::Sequential m;
    m.add(nabla::nn::Dense(3, 2)).add(nabla::nn::ReLU()).add(nabla::nn::Dense(2, 1));
    return m;
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    nabla::nn::load(model, path);
  } catch (const nabla::Error&) {
  }
  try {
    nabla::nn::load_tensors(path);
  } catch (const nabla::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}
