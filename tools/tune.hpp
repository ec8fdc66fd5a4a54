#pragma once
/// \file tune.hpp  What `nabla tune` does: measures this machine's limits
/// and searches the GEMM configuration on the shapes training uses, keeping
/// a change only when it is faster beyond the noise it measured; the result
/// is a Profile (nabla/runtime/profile.hpp) that nabla loads at start-up.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nabla/kernels/conv.hpp"
#include "nabla/runtime/profile.hpp"

namespace nabla::cli {

/// One GEMM shape to tune on.
struct TuneShape {
  std::string name;  ///< "mlp_fwd_NT/64x256x784"
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
};

struct TuneOptions {
  double budget_s = 60;  ///< wall-clock budget of the whole run
  /// Thread counts to tune for (empty: 1 and the number of physical cores).
  std::vector<int> threads;
  /// Tune on the fixed training set (default_tune_shapes()).
  bool training_shapes = true;
  /// More shapes (e.g. those of a model); at least one shape in all.
  std::vector<TuneShape> extra_shapes;
  /// Convolution layers (e.g. a model's: model_conv_shapes()) to choose a
  /// variant for, per pass, with the tuned GEMM configuration at the largest
  /// thread count: the fastest variant becomes the profile's ConvChoice when
  /// it beats the fixed rule's beyond the noise.
  std::vector<kernels::ConvParams> conv_shapes;
};

/// What the tuner reports as it goes: fraction of the budget used (0..1)
/// and a short description of the current step; after each candidate, a
/// verdict starting "candidate " (its time ratios against the best so far,
/// kept or rejected).
using TuneProgress = std::function<void(double fraction, const std::string& step)>;

/// The fixed shape set (the GEMM benchmark's training shapes).
std::vector<TuneShape> default_tune_shapes();

/// The distinct GEMM shapes one training step of a model (preset or spec,
/// at a batch size) runs: every gemm() call, those inside the convolutions
/// included, traced (nabla/runtime/trace.hpp). Names are "model:MxNxK:tt".
std::vector<TuneShape> model_gemm_shapes(const std::string& preset_or_spec, int64_t batch);

/// The distinct convolution shapes one training step of a model runs (traced).
std::vector<kernels::ConvParams> model_conv_shapes(const std::string& preset_or_spec, int64_t batch);
/// Runs the measurement and the search for the active ISA; returns the
/// profile (not saved). Leaves the GEMM configuration as it found it.
Profile tune(const TuneOptions& options, const TuneProgress& progress = {});

/// A table of the profile's shapes: default vs tuned GFLOP/s per thread
/// count; then the convolution choices, if any.
std::string tune_report(const Profile& p);

}  // namespace nabla::cli
