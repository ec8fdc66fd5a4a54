#pragma once
// Internal to nabla_tools (tools/trainer.cpp): the settings that define a
// training run, and the checkpoint `nabla train` writes beside --save
// (PATH.ckpt, described in trainer.hpp) and reads back for --resume; with
// the exact number <-> text conversions both use.
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "nabla/nn/presets.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/nn/serialize.hpp"
#include "nabla/tensor.hpp"
#include "trainer.hpp"

namespace nabla::cli {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Shortest text that reads back to the same value (exact round trip).
template <typename T>
std::string exact(T v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

template <typename T>
T parse_number(const std::string& s, const std::string& what) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    throw Error(what + ": '" + s + "' is not a valid number");
  return v;
}

/// "1,28,28".
std::string join(const std::vector<int64_t>& v);
/// "1,28,28" back (what names the text in errors).
std::vector<int64_t> split_ints(const std::string& s, const std::string& what);
std::vector<int32_t> to_int32(const std::vector<int64_t>& v);

using Settings = std::map<std::string, std::string>;

// The options that define a run: a resumed run takes them from the checkpoint.
Settings run_settings(const TrainOptions& o, const std::string& spec);

/// Takes a checkpoint's settings into o (path names the checkpoint in errors).
void apply_settings(TrainOptions& o, const Settings& s, const std::string& path);

/// The history as one metadata string, and back.
std::string history_text(const std::vector<EpochStats>& h);
std::vector<EpochStats> parse_history(const std::string& s, const std::string& path);

/// --resume: reads the checkpoint o.resume names, refuses an option given
/// on the command line (o.given) that differs from its settings, and takes
/// its settings into o.
nn::TensorFile read_checkpoint(TrainOptions& o);

/// What a checkpoint restores besides the tensors.
struct Resumed {
  int64_t steps = 0;  ///< the optimiser's step count
  uint64_t rng = 0;   ///< the shuffling RNG's state
  std::vector<EpochStats> history;
};

/// Copies the checkpoint's parameters into the model and its optimiser
/// state into optim_state (the optimiser's state() tensors); checks that
/// the run (input shape, rank count, --epochs) can continue it.
Resumed restore_checkpoint(nn::TensorFile& ckpt, const TrainOptions& o, const std::string& input_text, int ranks,
                           nn::Sequential& model, std::vector<Tensor> optim_state);

/// Writes PATH.ckpt (path is the whole name): the parameters, the optimiser
/// state, and as metadata model_meta, the step count, the RNG state, the
/// rank count, the history and the run's settings.
void write_checkpoint(const std::string& path, nn::Sequential& model, const std::vector<Tensor>& optim_state,
                      int64_t steps, uint64_t rng, int ranks, const std::vector<EpochStats>& history,
                      const nn::Metadata& model_meta, const TrainOptions& o, const nn::ModelSpec& spec);

}  // namespace nabla::cli
