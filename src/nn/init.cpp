#include "nabla/nn/init.hpp"

#include <atomic>

#include "nabla/error.hpp"
#include "nabla/kernels/norm.hpp"

namespace nabla::nn {
namespace {
std::atomic<uint64_t> g_seed_state{0};
std::atomic<uint64_t> g_dropout_seed{0};
std::atomic<uint64_t> g_dropout_counter{0};
}

Init parse_init(const std::string& name) {
  if (name == "default" || name == "pytorch") return Init::PyTorchDefault;
  if (name == "he" || name == "he-uniform" || name == "kaiming") return Init::HeUniform;
  if (name == "he-normal") return Init::HeNormal;
  if (name == "xavier" || name == "glorot" || name == "xavier-uniform") return Init::XavierUniform;
  if (name == "xavier-normal") return Init::XavierNormal;
  throw Error("unknown initialisation '" + name +
              "' (expected default, he, he-normal, xavier, xavier-normal)");
}

const char* init_name(Init init) {
  switch (init) {
    case Init::PyTorchDefault: return "default";
    case Init::HeUniform: return "he";
    case Init::HeNormal: return "he-normal";
    case Init::XavierUniform: return "xavier";
    case Init::XavierNormal: return "xavier-normal";
  }
  return "?";
}

void manual_seed(uint64_t seed) {
  g_seed_state.store(seed);
  g_dropout_seed.store(seed);
  g_dropout_counter.store(0);
}

RandomState random_state() { return {g_seed_state.load(), g_dropout_seed.load(), g_dropout_counter.load()}; }

void set_random_state(const RandomState& s) {
  g_seed_state.store(s.init);
  g_dropout_seed.store(s.seed);
  g_dropout_counter.store(s.counter);
}

uint64_t next_dropout_key() { return kernels::dropout_key(g_dropout_seed.load(), g_dropout_counter.fetch_add(1)); }

uint64_t next_seed() {
  // splitmix64 over an atomic counter: distinct, well-mixed seeds.
  uint64_t z = g_seed_state.fetch_add(0x9E3779B97F4A7C15ull) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace nabla::nn
