// libFuzzer: the safetensors loader, both into a fixed model and as a
// generic tensor file. The input goes through a file, which is what the
// loaders read.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <vector>
#include <cstdio>
#include <string>

#include "nabla/error.hpp"
#include "nabla/nn/layers.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"
#include "fuzz_seeds.hpp"

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

std::vector<std::string> nabla_fuzz_seeds() {
  // The fuzzed model's own file, with metadata.
  nabla::nn::Sequential m;
  m.add(nabla::nn::Dense(3, 2)).add(nabla::nn::ReLU()).add(nabla::nn::Dense(2, 1));
  const std::string path = "/tmp/nabla_fuzz_seed_" + std::to_string(::getpid()) + ".safetensors";
  nabla::nn::save(m, path, {{"nabla.spec", "dense 2 relu | dense 1"}});
  std::string bytes;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
    std::fclose(f);
  }
  std::remove(path.c_str());
  return {bytes};
}
