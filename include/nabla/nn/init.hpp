#pragma once
/// \file init.hpp  Parameter initialisation schemes and the seed layers draw from.
#include <cstdint>
#include <string>

namespace nabla::nn {

/// How a Dense or Conv2D layer's parameters are drawn (fan_in = in or
/// in_ch·k·k, fan_out = out or out_ch·k·k).
enum class Init {
  /// PyTorch's Linear/Conv2d default: kaiming_uniform_(a = √5), i.e. weight
  /// and bias both U(−1/√fan_in, 1/√fan_in).
  PyTorchDefault,
  /// He/Kaiming uniform for ReLU: weight U(±√(6/fan_in)), bias 0.
  HeUniform,
  /// He/Kaiming normal: weight N(0, 2/fan_in), bias 0.
  HeNormal,
  /// Xavier/Glorot uniform: weight U(±√(6/(fan_in + fan_out))), bias 0.
  XavierUniform,
  /// Xavier/Glorot normal: weight N(0, 2/(fan_in + fan_out)), bias 0.
  XavierNormal,
};

/// Parses "default" (or "pytorch"), "he" (or "he-uniform", "kaiming"),
/// "he-normal", "xavier" (or "glorot", "xavier-uniform"), "xavier-normal";
/// throws nabla::Error on anything else.
Init parse_init(const std::string& name);

/// The name parse_init() reads back for each scheme ("default", "he", ...).
const char* init_name(Init init);

/// Seeds the generator newly constructed layers draw their initial
/// parameters from (like torch.manual_seed): the same seed and the same
/// sequence of layer constructions give the same weights. Also seeds the
/// stream of dropout masks and resets its call counter. The generator
/// starts at seed 0.
void manual_seed(uint64_t seed);

/// The whole state of those generators (what a checkpoint stores so that a
/// resumed run draws what an uninterrupted one would).
struct RandomState {
  uint64_t init = 0;     ///< the initialisation generator
  uint64_t seed = 0;     ///< the dropout stream's seed
  uint64_t counter = 0;  ///< dropout calls drawn so far
};
/// The current state.
RandomState random_state();
/// Restores a state from random_state().
void set_random_state(const RandomState& s);
/// The key of the next dropout call (kernels::dropout_key(seed, counter++)).
uint64_t next_dropout_key();

/// The next seed from that generator (what a layer's constructor uses).
uint64_t next_seed();

}  // namespace nabla::nn

namespace nabla {
using nn::manual_seed;
}  // namespace nabla
