// `nabla`: train, eval, info, prof. Only maps command-line options onto
// tools/trainer.hpp and prints; the work is done there.
#include <unistd.h>
#include <zlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <oneapi/tbb/version.h>
#include <string>
#include <xsimd/config/xsimd_config.hpp>

#include <hwloc.h>

#include "nabla/nn/presets.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/cpu.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/runtime/profile.hpp"
#include "nabla/version.hpp"
#include "prof.hpp"
#include "trainer.hpp"
#include "tune.hpp"
#if NABLA_WITH_MPI
#include <memory>

#include "nabla/dist/mpi.hpp"
#endif

namespace cli = nabla::cli;

namespace {

std::string grammar_help() {
  std::string s =
      "\nModel spec: layers separated by '|':\n" + nabla::nn::spec_help() +
      "A flatten is inserted before a dense layer that follows images. End with\n"
      "'dense C' (C classes, softmax cross-entropy) or, for two classes,\n"
      "'dense 1 sigmoid' (binary cross-entropy; pick them with --classes A,B).\n"
      "\nPresets:\n";
  for (const auto& p : nabla::nn::presets()) {
    char line[512];
    std::snprintf(line, sizeof line, "  %-13s %s\n  %-13s   %s\n", p.name, p.description, "", p.spec);
    s += line;
  }
  return s +
         "\nWith --save PATH, the model (PATH) and a checkpoint (PATH.ckpt: weights,\n"
         "optimiser state, epoch, RNG state) are written after every epoch;\n"
         "--resume PATH.ckpt continues bitwise identically to an uninterrupted run.\n";
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// Progress of an epoch: a redrawn bar with ETA on a terminal (at most 10
// times a second), nothing otherwise; the epoch line either way. No bar in
// an MPI job: Open MPI hands each rank a pseudo-terminal even when mpirun's
// output goes to a file, and the bar's escape codes would land in it.
class Progress {
 public:
  Progress(int epochs, bool bar) : epochs_(epochs), tty_(bar && ::isatty(::fileno(stdout)) != 0) {}

  void batch(int epoch, int64_t done, int64_t total, double loss, double acc) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done == 1) start_ = now;
    if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = done > 1 ? elapsed / static_cast<double>(done - 1) * static_cast<double>(total - done) : 0;
    constexpr int kWidth = 30;
    char bar[kWidth + 1];
    const auto filled = static_cast<int>(kWidth * done / total);
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
    bar[kWidth] = 0;
    std::printf("\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f  acc %5.2f%%  ETA %s", epoch, epochs_, bar,
                static_cast<long long>(done), static_cast<long long>(total), loss, 100 * acc, clock_text(eta).c_str());
    std::fflush(stdout);
  }

  void epoch(const cli::EpochStats& s) {
    if (tty_) std::printf("\r\033[K");
    std::printf("epoch %d/%d  train loss %.4f  acc %6.2f%%", s.epoch, epochs_, s.train_loss, 100 * s.train_accuracy);
    if (!std::isnan(s.test_accuracy)) std::printf("  test loss %.4f  acc %6.2f%%", s.test_loss, 100 * s.test_accuracy);
    std::printf("  %.1f s  %.0f samples/s\n", s.seconds, s.samples_per_s);
    std::fflush(stdout);
  }

 private:
  int epochs_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

// world: the MPI job when started by mpirun (null otherwise); only rank 0
// prints.
int run_train(const cli::TrainOptions& o, const nabla::dist::World* world, bool rank0) {
  Progress progress(o.epochs, world == nullptr);
  cli::TrainObserver obs;
  obs.on_start = [](const std::string& text) { std::fputs(text.c_str(), stdout); };
  obs.on_batch = [&](int e, int64_t d, int64_t t, double l, double a) { progress.batch(e, d, t, l, a); };
  obs.on_epoch = [&](const cli::EpochStats& s) { progress.epoch(s); };
  obs.on_end = [](const std::string& text) { std::fputs(text.c_str(), stdout); };
  const auto history = cli::train(o, obs, world);
  if (!rank0) return 0;
  double total = 0;
  for (const auto& s : history) total += s.seconds;
  std::printf("trained %zu epochs in %.1f s", history.size(), total);
  if (!std::isnan(history.back().test_accuracy)) std::printf(", test accuracy %.2f%%", 100 * history.back().test_accuracy);
  std::printf("\n");
  if (!o.save.empty()) std::printf("model: %s (checkpoint %s.ckpt)\n", o.save.c_str(), o.save.c_str());
  if (!o.log.empty()) std::printf("log: %s\n", o.log.c_str());
  if (!o.plot.empty()) std::printf("plot: %s\n", o.plot.c_str());
  return 0;
}

int run_eval(const std::string& model, const std::string& data, const std::string& label) {
  const cli::Evaluation e = cli::evaluate_file(model, data, label);
  int64_t n = 0;
  for (const auto& row : e.confusion)
    for (int64_t v : row) n += v;
  std::printf("%s on %s: %lld samples, loss %.4f, accuracy %.2f%%\n\nper class:\n", model.c_str(), data.c_str(),
              static_cast<long long>(n), e.loss, 100 * e.accuracy);
  for (size_t c = 0; c < e.confusion.size(); ++c) {
    int64_t total = 0;
    for (int64_t v : e.confusion[c]) total += v;
    if (total > 0)
      std::printf("  class %2zu: %6.2f%% of %lld\n", c, 100.0 * static_cast<double>(e.confusion[c][c]) / static_cast<double>(total),
                  static_cast<long long>(total));
    else
      std::printf("  class %2zu: no samples\n", c);
  }
  std::printf("\nconfusion matrix (rows: true class, columns: predicted):\n      ");
  for (size_t c = 0; c < e.confusion.size(); ++c) std::printf("%6zu", c);
  std::printf("\n");
  for (size_t r = 0; r < e.confusion.size(); ++r) {
    std::printf("%6zu", r);
    for (int64_t v : e.confusion[r]) std::printf("%6lld", static_cast<long long>(v));
    std::printf("\n");
  }
  return 0;
}

struct TuneCli {
  double budget = 60;
  std::vector<int> threads;
  std::string output, model;
  int64_t batch = 64;
};

int run_tune(const TuneCli& t) {
  const nabla::Isa isa = nabla::active_isa();
  const std::string path = t.output.empty() ? nabla::default_profile_path(isa) : t.output;
  if (path.empty()) throw nabla::Error("tune: no cache directory (set XDG_CACHE_HOME or HOME, or pass --output)");
  cli::TuneOptions o;
  o.budget_s = t.budget;
  o.threads = t.threads;
  if (!t.model.empty()) {
    o.extra_shapes = cli::model_gemm_shapes(t.model, t.batch);
    o.conv_shapes = cli::model_conv_shapes(t.model, t.batch);
    std::printf("%zu GEMM shapes and %zu convolutions from one training step of '%s' at batch %lld\n",
                o.extra_shapes.size(), o.conv_shapes.size(), t.model.c_str(), static_cast<long long>(t.batch));
  }
  const bool tty = ::isatty(::fileno(stdout)) != 0;
  std::printf("tuning %s on %s for about %.0f s\n", nabla::isa_name(isa), nabla::cpu_info().model.c_str(), t.budget);
  std::string last_step;
  auto progress = [&](double f, const std::string& step) {
    if (step.rfind("candidate ", 0) == 0) {  // a verdict: one line in the log either way
      std::printf("%s%s\n", tty ? "\r\033[K" : "", step.c_str());
      std::fflush(stdout);
      return;
    }
    if (tty) {
      constexpr int kWidth = 30;
      char bar[kWidth + 1];
      for (int i = 0; i < kWidth; ++i) bar[i] = i < static_cast<int>(f * kWidth) ? '#' : '.';
      bar[kWidth] = 0;
      std::printf("\r\033[K[%s] %3.0f%%  %.60s", bar, 100 * f, step.c_str());
      std::fflush(stdout);
    } else if (step.find(':') == std::string::npos && step != last_step) {
      std::printf("%s\n", step.c_str());  // the phases only, not every candidate
      std::fflush(stdout);
    }
    last_step = step;
  };
  const nabla::Profile p = cli::tune(o, progress);
  if (tty) std::printf("\r\033[K");
  const nabla::MachineLimits& l = p.limits;
  std::printf("FMA peak: %.0f GFLOP/s (1 thread), %.0f (%d threads)\n", l.peak_gflops_1, l.peak_gflops_all, l.threads);
  std::printf("bandwidth, copy / triad GB/s:");
  for (size_t i = 0; i < l.bandwidth_1.size(); ++i)
    std::printf("  %s %.0f/%.0f (%d threads: %.0f/%.0f)", l.bandwidth_1[i].level.c_str(), l.bandwidth_1[i].copy_gbs,
                l.bandwidth_1[i].triad_gbs, l.threads, l.bandwidth_all[i].copy_gbs, l.bandwidth_all[i].triad_gbs);
  std::printf("\nnoise (median deviation of the default against itself): %.1f%%\n", 100 * p.noise);
  std::printf("defaults: %s\ntuned:    %s\n\n%s", nabla::to_string(nabla::default_gemm_config(isa)).c_str(),
              nabla::to_string(p.gemm).c_str(), cli::tune_report(p).c_str());
  nabla::save_profile(p, path);
  std::printf("\nprofile: %s\n", path.c_str());
  return 0;
}

int run_info() {
  const nabla::CpuInfo& c = nabla::cpu_info();
  const nabla::Isa isa = nabla::active_isa();
  std::printf("nabla %s\n", nabla::kVersion);
  std::printf("cpu:      %s %s\n", c.vendor.c_str(), c.model.c_str());
  std::printf("cores:    %d physical, %d logical\n", c.physical_cores, c.logical_cpus);
  std::printf("caches:   L1d %lld KiB, L2 %lld KiB (per core), L3 %lld KiB\n", static_cast<long long>(c.l1d_bytes >> 10),
              static_cast<long long>(c.l2_bytes >> 10), static_cast<long long>(c.l3_bytes >> 10));
  std::printf("isa:      %s in use (best the CPU and OS support: %s)\n", nabla::isa_name(isa), nabla::isa_name(c.best_isa));
  std::printf("threads:  %d\n", nabla::num_threads());
  std::printf("gemm:     %s\n", nabla::to_string(nabla::gemm_config(isa)).c_str());
  const nabla::ProfileStatus st = nabla::profile_status(isa);
  if (st.profile)
    std::printf("profile:  %s (tuned %s; FMA peak %.0f GFLOP/s, %.0f on %d threads)\n", st.path.c_str(),
                st.profile->created.c_str(), st.profile->limits.peak_gflops_1, st.profile->limits.peak_gflops_all,
                st.profile->limits.threads);
  else
    std::printf("profile:  none in use: %s%s\n", st.message.c_str(), st.path.empty() ? "" : (" (" + st.path + ")").c_str());
  std::printf("built with: oneTBB %s (runtime %s), hwloc %u.%u.%u, xsimd %d.%d.%d, zlib %s, nlohmann-json %d.%d.%d, "
              "CLI11 %s\n",
              TBB_VERSION_STRING, TBB_runtime_version(), HWLOC_API_VERSION >> 16, (HWLOC_API_VERSION >> 8) & 0xff,
              HWLOC_API_VERSION & 0xff, XSIMD_VERSION_MAJOR, XSIMD_VERSION_MINOR, XSIMD_VERSION_PATCH, ZLIB_VERSION,
              NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH, CLI11_VERSION);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla: fast training of MLPs and CNNs on CPUs"};
  app.require_subcommand(1);

  cli::TrainOptions o;
  CLI::App* train = app.add_subcommand("train", "Train a model (default: the CNN on Fashion-MNIST)");
  train->footer(grammar_help());
  std::vector<CLI::Option*> defining;
  defining.push_back(train->add_option("--model", o.model, "preset name or model spec (see below)")->capture_default_str());
  defining.push_back(train->add_option("--data", o.data, "IDX directory (train-/t10k- files, .gz or not) or CSV file")
                         ->capture_default_str());
  defining.push_back(train->add_option("--test-data", o.test_data, "CSV test file (IDX directories bring their own)"));
  defining.push_back(
      train->add_option("--label", o.label, "CSV label column: name or 0-based index (-1: last)")->capture_default_str());
  train->add_option("--epochs", o.epochs, "total epochs (with --resume: including those done)")->capture_default_str();
  defining.push_back(train->add_option("--batch", o.batch, "mini-batch size")->capture_default_str());
  defining.push_back(train->add_option("--lr", o.lr, "learning rate")->capture_default_str());
  defining.push_back(train->add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str());
  defining.push_back(train->add_option("--optimizer", o.optimizer,
                                       "sgd, adam, adamw or rmsprop (torch.optim's rules; AdamW's decay is "
                                       "--weight-decay, decoupled; RMSprop: alpha 0.99, eps 1e-8, no momentum)")
                         ->capture_default_str());
  defining.push_back(train->add_option("--weight-decay", o.weight_decay, "weight decay (L2; decoupled for adamw)")
                         ->capture_default_str());
  defining.push_back(train->add_flag("--nesterov", o.nesterov, "Nesterov momentum (sgd, needs --momentum > 0)"));
  defining.push_back(train->add_option("--schedule", o.schedule,
                                       "learning-rate schedule, stepped per epoch: step:EPOCHS:GAMMA (StepLR: "
                                       "lr x GAMMA every EPOCHS epochs) or cosine[:T_MAX[:ETA_MIN]] "
                                       "(CosineAnnealingLR, T_MAX default --epochs); default constant"));
  defining.push_back(train->add_option("--warmup", o.warmup,
                                       "linear warm-up EPOCHS[:START_FACTOR]: the rate rises from START_FACTOR "
                                       "(default 1/3) x lr to lr over EPOCHS epochs, times the schedule's"));
  defining.push_back(train->add_option("--clip-grad-norm", o.clip_grad_norm,
                                       "scale the gradients so that their L2 norm (all parameters together) "
                                       "is at most X per step (0: off)")
                         ->capture_default_str());
  defining.push_back(train->add_option("--augment", o.augment,
                                       "augment the training images each epoch: crop[:P] (random crop of the "
                                       "image zero-padded by P pixels, default 2) and/or flip (horizontal, "
                                       "probability 1/2), comma-separated; seeded by --seed, bitwise reproducible"));
  defining.push_back(train->add_option("--seed", o.seed, "seed of the weights, the shuffling, dropout and --augment")->capture_default_str());
  train->add_option("--threads", o.threads, "threads (0: one per physical core)")->capture_default_str();
  defining.push_back(train->add_option("--classes", o.classes, "train on these classes only, relabelled 0, 1, ... "
                                                               "(e.g. 0,6 for the binary presets)")->delimiter(','));
  defining.push_back(train->add_option("--limit", o.limit, "first N training samples only (0: all)")->capture_default_str());
  defining.push_back(train->add_flag("--normalize,!--no-normalize", o.normalize,
                                      "standardise inputs by the training set's mean/std (default on)"));
  train->add_option("--save", o.save, "model file (safetensors), written every epoch with PATH.ckpt beside it");
  train->add_option("--resume", o.resume, "continue from a checkpoint (PATH.ckpt)");
  train->add_option("--log", o.log, "CSV of the per-epoch figures");
  train->add_option("--plot", o.plot, "SVG of the training curves");

  std::string eval_model, eval_data = cli::kFashionMnistDir, eval_label = "0";
  CLI::App* eval = app.add_subcommand("eval", "Accuracy, per-class accuracy and confusion matrix of a saved model");
  eval->add_option("--model", eval_model, "model file written by nabla train --save")->required();
  eval->add_option("--data", eval_data, "IDX directory (its t10k- files are used) or CSV file")->capture_default_str();
  eval->add_option("--label", eval_label, "CSV label column")->capture_default_str();

  CLI::App* info = app.add_subcommand("info", "CPU, ISA, caches, threads, GEMM blocking, tuning profile, versions");

  TuneCli tune_opts;
  CLI::App* tune = app.add_subcommand(
      "tune", "Measure this CPU and tune the GEMM blocking (and, with --model, the convolution variants); writes the "
              "profile nabla loads");
  tune->add_option("--budget", tune_opts.budget, "seconds the whole run may take (5..86400)")->capture_default_str();
  tune->add_option("--threads", tune_opts.threads, "thread counts to tune for (default: 1 and all cores)")->delimiter(',');
  tune->add_option("--output", tune_opts.output, "profile file (default: the cache file nabla looks up for this CPU)");
  tune->add_option("--model", tune_opts.model,
                   "also tune on the GEMM shapes of this preset or spec's training step, and choose the fastest "
                   "convolution variant for each of its layers and passes");
  tune->add_option("--batch", tune_opts.batch, "batch size for --model")->capture_default_str();
  tune->footer(
      "\nThe profile is JSON, keyed by CPU model, ISA, cores and caches, in\n"
      "$XDG_CACHE_HOME/nabla/ (or ~/.cache/nabla/). nabla loads the one matching\n"
      "the CPU at start-up; NABLA_PROFILE=FILE names another, NABLA_PROFILE=off\n"
      "ignores it. A profile for another CPU, or a corrupt one, is ignored with a\n"
      "warning. A change is kept only when faster, beyond the measured noise,\n"
      "without slowing any shape.\n");

  // nabla prof: the work is in tools/prof_*.cpp.
  cli::ProfOptions prof_o;
  CLI::App* prof = app.add_subcommand("prof", "Profile kernel variants against the machine's measured limits");
  prof->add_option("family", prof_o.family, "gemm, conv or eltwise (or use --model)");
  prof->add_option("--shape", prof_o.shapes,
                   "shapes instead of the training defaults (repeatable): gemm MxNxK[:nn|nt|tn|tt]; "
                   "conv NxCxHxW,OxKHxKW[,sS][,pP][,dD]; eltwise N elements")
      ->allow_extra_args(false);
  prof->add_option("--model", prof_o.model, "trace one training step of a preset or model spec instead");
  prof->add_option("--batch", prof_o.batch, "batch size of --model")->capture_default_str();
  prof->add_option("--threads", prof_o.threads, "threads (0: one per physical core)")->capture_default_str();
  prof->add_option("--isa", prof_o.isa, "ISA of the variants: generic, avx2, avx512 or all (default: the active one)");
  prof->add_option("--json", prof_o.json, "write the rows as JSON (schema nabla-prof-1)");
  prof->add_option("--csv", prof_o.csv, "write the rows as CSV");
  prof->add_option("--roofline", prof_o.roofline, "write an SVG roofline with each row as a numbered point");
  prof->footer("\nEach variant is checked against the scalar reference first (a wrong one is\n"
               "reported WRONG and not timed), then timed: median and best of >= 3 runs.\n"
               "Limits: the tuning profile's (nabla tune), else measured now (~2 s).\n"
               "Examples:\n  nabla prof gemm --threads 1\n  nabla prof conv --shape 64x1x28x28,6x5x5,p2\n"
               "  nabla prof --model lenet --batch 64 --roofline lenet.svg\n");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Under mpirun (or srun), `nabla train` is data-parallel over the job's
  // ranks. MPI starts after the options parsed, so that --help or a typo
  // never reaches it.
  nabla::dist::World* world = nullptr;
  int rank = 0, ranks = 1;
#if NABLA_WITH_MPI
  std::unique_ptr<nabla::dist::World> job;
  if (*train && nabla::dist::launched_by_mpi()) {
    job = std::make_unique<nabla::dist::World>(argc, argv);
    world = job.get();
    rank = world->rank();
    ranks = world->size();
    // The machine's cores shared among the ranks on it, unless told.
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local) local = std::getenv("MPI_LOCALNRANKS");
    if (o.threads == 0 && !std::getenv("NABLA_NUM_THREADS") && local && std::atoi(local) > 0)
      o.threads = std::max(1, nabla::cpu_info().physical_cores / std::atoi(local));
  }
#else
  (void)ranks;
#endif
  try {
    if (*train) {
      for (CLI::Option* opt : defining)
        if (opt->count() > 0) o.given.push_back(opt->get_name().substr(2));
      return run_train(o, world, rank == 0);
    }
    if (*eval) return run_eval(eval_model, eval_data, eval_label);
    if (*info) return run_info();
    if (*tune) return run_tune(tune_opts);
    if (*prof) {
      const cli::ProfReport r = cli::profile(prof_o);
      std::fputs(cli::prof_table(r).c_str(), stdout);
      cli::write_prof_outputs(r, prof_o);
      for (const std::string* f : {&prof_o.json, &prof_o.csv, &prof_o.roofline})
        if (!f->empty()) std::printf("wrote %s\n", f->c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    if (!world && ::isatty(::fileno(stdout))) std::printf("\n");  // end a progress bar's line
    std::fflush(stdout);
#if NABLA_WITH_MPI
    // Every rank met this error together (rank 0's message names it): each
    // ends cleanly. An error of one rank alone ends the whole job.
    const bool collective = dynamic_cast<const nabla::dist::CollectiveError*>(&e) != nullptr;
    if (ranks > 1 && !collective) {
      std::fprintf(stderr, "nabla: error: rank %d of %d: %s\n", rank, ranks, e.what());
      std::fflush(stderr);
      world->abort(1);
    }
    if (collective && rank != 0) return 1;
#endif
    std::fprintf(stderr, "nabla: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
