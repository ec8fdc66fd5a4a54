#pragma once
/// \file prof.hpp  `nabla prof`: the kernel-variant profiler, as a library
/// (main.cpp only maps options; the tests call it directly).
///
/// Two modes:
/// - a family (`gemm`, `conv`, `eltwise`) over default or given shapes: every
///   variant of the family's list that applies to a shape is run once and
///   checked against the scalar reference (a wrong result is reported WRONG
///   and never timed), then timed (warm-up, median and best of several
///   runs);
/// - a model (`--model SPEC --batch N`): one training step (forward, loss,
///   backward, Adam update) is traced (nabla/runtime/trace.hpp) and every
///   kernel call it makes is a row, with its layer, pass and share of the
///   step (median of several steady-state steps).
/// Each row is set against the machine's limits: the FP32 peak and the
/// copy/triad bandwidth of the level its working set fits in, from the
/// loaded tuning profile or measured now.
///
/// Outputs: a text table; JSON (schema "nabla-prof-1", see prof_json()),
/// CSV (one row per table row, header first) and an SVG roofline.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nabla/kernels/conv.hpp"
#include "nabla/nn/sequential.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/profile.hpp"
#include "nabla/runtime/trace.hpp"

namespace nabla::cli {

/// One kernel variant on one shape, ready to run: built by the family's case
/// builder from its variant list.
struct ProfCase {
  std::string variant;  ///< name in the grammar of STYLE.md, e.g. "f32_gemm_6x64_inplace_a_avx512"
  std::string pass;     ///< "" (gemm), "forward", "backward-data", "backward-weights", ...
  std::string shape;    ///< as --shape takes it
  Isa isa = Isa::Generic;
  double flops = 0;     ///< per call
  double bytes = 0;     ///< compulsory traffic per call: inputs read + outputs written once
  std::function<void()> prepare;        ///< before the checked run: reset the output / in-place state (may be empty)
  std::function<void()> run;            ///< one call of the kernel
  std::function<std::string()> check;   ///< after run(): "" when right, else what is wrong
  std::span<float> out;                 ///< the output check() reads (a test may corrupt it)
};

/// One row of the report.
struct ProfRow {
  int64_t layer = -1;      ///< model mode: layer index in the Sequential (-1: loss / optimiser)
  std::string layer_name;  ///< model mode: e.g. "Conv2D 1→6 5×5 pad 2 + ReLU"
  std::string pass, variant, shape;
  bool ok = true;          ///< false: WRONG (error says why; nothing timed)
  std::string error;
  int calls = 1;           ///< model mode: calls merged in this row (1)
  double seconds = 0;      ///< median time of one call
  double best_seconds = 0; ///< best time of one call
  double flops = 0, bytes = 0;
  double gflops = 0, peak_pct = 0;  ///< GFLOP/s (median) and % of the peak
  double gbs = 0, bw_pct = 0;       ///< GB/s (median) and % of the roof of bw_level
  std::string bw_level;             ///< "L1", "L2", "L3", "DRAM": where the working set fits
  double intensity = 0;             ///< flops / bytes
  double share = 0;                 ///< model mode: share of the step time (0..1)
};

/// What `nabla prof` is asked to do.
struct ProfOptions {
  std::string family;               ///< "gemm", "conv", "eltwise"; empty with model
  std::vector<std::string> shapes;  ///< --shape; empty: the family's default (training) shapes
  std::string model;                ///< preset or spec (model mode)
  int64_t batch = 64;
  int threads = 0;                  ///< 0: nabla's default
  std::string isa;                  ///< "" (the active ISA), an ISA name, or "all" (every ISA the CPU has)
  std::string json, csv, roofline;  ///< output files (empty: none)
  double min_time = 0.05;           ///< seconds of timed runs per case (at least 3 runs)
  int steps = 5;                    ///< model mode: traced steps (median)
  /// Limits to use instead of the profile / a measurement (tests).
  std::optional<MachineLimits> limits;
  /// Test hook: may edit the cases before they run (e.g. corrupt one's output).
  std::function<void(std::vector<ProfCase>&)> edit_cases;
};

/// The result.
struct ProfReport {
  std::string mode;    ///< "family" or "model"
  std::string family;  ///< family mode
  std::string model;   ///< model mode: the spec
  int64_t batch = 0;   ///< model mode
  Isa isa = Isa::Generic;
  int threads = 1;
  MachineLimits limits;
  std::string limits_source;  ///< "profile FILE", "measured now ...", "given"
  double peak_gflops = 0;     ///< the peak rows are set against (threads used)
  double step_seconds = 0;    ///< model mode: median step time, untraced
  double traced_step_seconds = 0;  ///< model mode: median step time while tracing (shares are of this)
  std::vector<ProfRow> rows;
};

/// Runs the profiler. Throws nabla::Error on bad options (unknown family,
/// bad shape, both or neither of family and model, batch < 1, ...).
ProfReport profile(const ProfOptions& o);

/// A convolution shape as `nabla prof conv --shape` takes it
/// (NxCxHxW,OxKHxKW[,sS][,pP][,dD]); throws nabla::Error naming what is wrong.
kernels::ConvParams parse_conv_shape(const std::string& text);

/// The cases of a family for the given shapes (default shapes when empty)
/// on the given ISAs. Throws nabla::Error on an unknown family or bad shape.
std::vector<ProfCase> prof_cases(const std::string& family, const std::vector<std::string>& shapes,
                                 const std::vector<Isa>& isas);

/// The text table (with a header naming the limits).
std::string prof_table(const ProfReport& r);
/// JSON: {"schema": "nabla-prof-1", "mode", "family"|"model"+"batch", "isa",
/// "threads", "limits": {"source", "peak_gflops", "peak_gflops_1",
/// "peak_gflops_all", "bandwidth": [{"level", "bytes", "copy_gbs",
/// "triad_gbs"}]}, "step_seconds" (model), "rows": [{"index", "layer",
/// "layer_name", "pass", "variant", "shape", "status" ("ok"|"wrong"),
/// "error", "seconds", "best_seconds", "flops", "bytes", "gflops",
/// "peak_pct", "gbs", "bw_level", "bw_pct", "intensity", "share"}]}; the
/// timing fields of a wrong row are null.
std::string prof_json(const ProfReport& r);
/// CSV with the header index,layer,layer_name,pass,variant,shape,status,
/// seconds,best_seconds,flops,bytes,gflops,peak_pct,gbs,bw_level,bw_pct,
/// intensity,share (fields with commas or quotes quoted).
std::string prof_csv(const ProfReport& r);
/// SVG roofline: log-log, the peak and one bandwidth roof per level,
/// labelled; each timed row a numbered point (class "point"), the legend
/// beside the plot.
std::string prof_roofline_svg(const ProfReport& r);
/// Writes the files o asks for (atomically).
void write_prof_outputs(const ProfReport& r, const ProfOptions& o);

/// A trace sink that keeps every event it is given (from any thread);
/// nested: also the calls made inside other kernel calls.
class TraceCollector : public trace::Sink {
 public:
  explicit TraceCollector(bool nested = false);
  void record(trace::Event e) override;
  bool nested() const override { return nested_; }
  /// The events so far, in the order recorded; empties the collector.
  std::vector<trace::Event> take();

 private:
  bool nested_;
  std::mutex mu_;
  std::vector<trace::Event> events_;
};

/// Installs a sink for its lifetime (removed however the scope ends).
struct TraceGuard {
  explicit TraceGuard(trace::Sink* s) { trace::set_sink(s); }
  ~TraceGuard() { trace::set_sink(nullptr); }
  TraceGuard(const TraceGuard&) = delete;
  TraceGuard& operator=(const TraceGuard&) = delete;
};

/// One training step of a model — forward, loss, backward, Adam — on fixed
/// random inputs of Fashion-MNIST's shape (784 values, or 1×28×28 when the
/// spec starts with a convolution or pooling) and labels: what
/// `nabla prof --model` traces and `nabla tune --model` takes its GEMM
/// shapes from. Throws nabla::Error for a bad spec or batch.
class ModelStep {
 public:
  ModelStep(const std::string& preset_or_spec, int64_t batch);
  ~ModelStep();
  ModelStep(const ModelStep&) = delete;
  ModelStep& operator=(const ModelStep&) = delete;
  /// Runs one step.
  void operator()();
  /// The canonical spec.
  const std::string& spec() const;
  nn::Sequential& model();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Parsers of --shape (throw nabla::Error with the expected syntax).
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false;
};
GemmShape parse_gemm_shape(const std::string& s);  ///< MxNxK[:nn|nt|tn|tt]

}  // namespace nabla::cli
