#include "trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "checkpoint.hpp"
#include "nabla/nn/presets.hpp"
#include "nabla/data/csv.hpp"
#include "nabla/data/idx.hpp"
#include "nabla/error.hpp"
#include "nabla/runtime/file.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/nn/schedule.hpp"
#include "nabla/nn/serialize.hpp"
#include "nabla/runtime/threads.hpp"
#if NABLA_WITH_MPI
#include "nabla/dist/mpi.hpp"
#endif

namespace nabla::cli {

namespace {

// ---- data ------------------------------------------------------------------

struct Data {
  data::Dataset train, test;
  bool has_test = false;
  data::Moments norm;  // stddev 0: not normalised
};

bool is_csv(const std::string& path) {
  return std::filesystem::is_regular_file(path) || path.ends_with(".csv");
}

Data load_data(const std::string& path, const std::string& test_path, const std::string& label,
               const std::vector<int32_t>& classes, int64_t limit, bool normalize) {
  Data d;
  if (is_csv(path)) {
    const data::CsvOptions csv{label};
    d.train = data::read_csv(path, csv);
    if (!test_path.empty()) {
      d.test = data::read_csv(test_path, csv);
      d.has_test = true;
      if (d.test.sample_shape() != d.train.sample_shape())
        throw Error("'" + test_path + "': " + std::to_string(d.test.sample_shape()[0]) + " features, '" + path +
                    "' has " + std::to_string(d.train.sample_shape()[0]));
    }
  } else {
    if (!std::filesystem::is_directory(path))
      throw Error("'" + path + "': no such directory (--data wants an IDX directory or a CSV file)");
    d.train = data::load_mnist_dir(path, data::Split::Train);
    d.test = data::load_mnist_dir(path, data::Split::Test);
    d.has_test = true;
    if (d.test.sample_shape() != d.train.sample_shape())
      throw Error("'" + path + "': test samples are " + shape_string(d.test.sample_shape()) + ", training samples " +
                  shape_string(d.train.sample_shape()));
  }
  const int64_t k = std::max(d.train.num_classes, d.has_test ? d.test.num_classes : 0);
  d.train.num_classes = d.test.num_classes = k;
  if (!classes.empty()) {
    d.train = data::select_classes(d.train, classes);
    if (d.has_test) d.test = data::select_classes(d.test, classes);
    if (d.train.size() == 0) throw Error("'" + path + "': no training sample of the classes asked for");
  }
  if (limit > 0) d.train = data::take(d.train, limit);
  if (normalize) {
    d.norm = data::moments(d.train);
    data::normalize(d.train, d.norm);
    if (d.has_test) data::normalize(d.test, d.norm);
  }
  return d;
}

// ---- loss and optimiser -----------------------------------------------------

// The loss the model's output calls for, and how to read predictions.
// The loss of a classifier (nn::Loss: binary cross-entropy on one output,
// softmax cross-entropy on logits) and how a prediction is read from an
// output row.
struct Objective {
  Objective(bool binary, bool probabilities) : binary(binary), probabilities(probabilities) {
    if (binary) loss = std::make_unique<nn::BinaryCrossEntropy>(!probabilities);
    else loss = std::make_unique<nn::SoftmaxCrossEntropy>();
  }
  int32_t predict(const float* row, int64_t outputs) const {
    if (binary) return row[0] > (probabilities ? 0.5f : 0.f) ? 1 : 0;
    return static_cast<int32_t>(std::max_element(row, row + outputs) - row);
  }
  bool binary, probabilities;
  std::unique_ptr<nn::Loss> loss;
};

// The optimiser --optimizer names, over the model's parameters.
std::unique_ptr<nn::Optimizer> make_optimizer(const TrainOptions& o, std::vector<nn::Parameter*> params) {
  if (o.optimizer == "sgd") return std::make_unique<nn::SGD>(std::move(params), o.lr, o.momentum, o.weight_decay, o.nesterov);
  if (o.optimizer == "adam") return std::make_unique<nn::Adam>(std::move(params), o.lr, 0.9f, 0.999f, 1e-8f, o.weight_decay);
  if (o.optimizer == "adamw") return std::make_unique<nn::AdamW>(std::move(params), o.lr, 0.9f, 0.999f, 1e-8f, o.weight_decay);
  if (o.optimizer == "rmsprop") return std::make_unique<nn::RMSprop>(std::move(params), o.lr, 0.99f, 1e-8f, o.weight_decay);
  throw Error("--optimizer '" + o.optimizer + "': expected sgd, adam, adamw or rmsprop");
}

std::vector<std::string> split_fields(const std::string& s) {
  std::vector<std::string> f;
  size_t a = 0;
  for (size_t b; (b = s.find(':', a)) != std::string::npos; a = b + 1) f.push_back(s.substr(a, b - a));
  f.push_back(s.substr(a));
  return f;
}

// --schedule with cosine's T_MAX written out (the run's --epochs unless
// given), so that a checkpoint keeps the schedule the run started with.
std::string resolved_schedule(const std::string& s, int epochs) {
  return s == "cosine" ? "cosine:" + std::to_string(epochs) : s;
}

// The schedule --schedule and --warmup name (null: a constant rate);
// throws nabla::Error naming the option for a malformed or bad value.
std::unique_ptr<nn::Schedule> make_schedule(const TrainOptions& o, nn::Optimizer& opt) {
  std::unique_ptr<nn::Schedule> sched;
  const std::vector<std::string> f = split_fields(o.schedule);
  auto num = [&](const std::string& text, auto type) {
    return parse_number<decltype(type)>(text, "--schedule '" + o.schedule + "'");
  };
  try {
    if (o.schedule.empty()) {
    } else if (f[0] == "step" && f.size() == 3) {
      sched = std::make_unique<nn::StepLR>(opt, num(f[1], int64_t{}), num(f[2], float{}));
    } else if (f[0] == "cosine" && f.size() <= 3) {
      const int64_t t_max = f.size() > 1 ? num(f[1], int64_t{}) : o.epochs;
      sched = std::make_unique<nn::CosineAnnealingLR>(opt, t_max, f.size() > 2 ? num(f[2], float{}) : 0.f);
    } else {
      throw Error("--schedule '" + o.schedule + "': expected step:EPOCHS:GAMMA or cosine[:T_MAX[:ETA_MIN]]");
    }
  } catch (const Error& e) {
    const std::string m = e.what();
    throw Error(m.starts_with("--schedule") ? m : "--schedule '" + o.schedule + "': " + m);
  }
  if (o.warmup.empty()) return sched;
  const std::vector<std::string> w = split_fields(o.warmup);
  const std::string what = "--warmup '" + o.warmup + "'";
  if (w.size() > 2) throw Error(what + ": expected EPOCHS or EPOCHS:START_FACTOR");
  const int64_t epochs = parse_number<int64_t>(w[0], what);
  const float start = w.size() > 1 ? parse_number<float>(w[1], what) : 1.f / 3;
  try {
    if (sched) sched->set_warmup(epochs, start);
    else sched = std::make_unique<nn::LinearWarmup>(opt, epochs, start);
  } catch (const Error& e) {
    throw Error(what + ": " + e.what());
  }
  return sched;
}

Evaluation run_eval(nn::Sequential& model, const data::Dataset& d, Objective& obj, int64_t outputs, int64_t batch) {
  Evaluation e;
  const auto k = static_cast<size_t>(obj.binary ? 2 : outputs);
  e.confusion.assign(k, std::vector<int64_t>(k, 0));
  // Evaluation mode (BatchNorm's running statistics, no dropout), the caller's mode restored after.
  struct ModeGuard {
    nn::Sequential& m;
    bool was;
    ~ModeGuard() { m.train(was); }
  } guard{model, model.is_training()};
  model.eval();
  data::BatchIterator it(d, batch, obj.binary);
  double loss = 0;
  int64_t right = 0;
  while (it.next()) {
    const Tensor out = model.forward(it.x());
    loss += static_cast<double>(obj.loss->forward(out, it.y())) * static_cast<double>(it.batch_size());
    for (int64_t i = 0; i < it.batch_size(); ++i) {
      const int32_t p = obj.predict(out.data() + i * outputs, outputs);
      const int32_t t = it.labels()[i];
      right += p == t;
      ++e.confusion[static_cast<size_t>(t)][static_cast<size_t>(p)];
    }
  }
  e.loss = loss / static_cast<double>(d.size());
  e.accuracy = static_cast<double>(right) / static_cast<double>(d.size());
  return e;
}


// Fails now, not after hours of training, when an output cannot be written.
void check_writable(const std::string& path, const char* option) {
  if (path.empty()) return;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_directory(dir))
    throw Error(std::string(option) + " '" + path + "': directory '" + dir.string() + "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw Error(std::string(option) + " '" + path + "': directory '" + dir.string() + "' is not writable");
  if (std::filesystem::is_directory(path)) throw Error(std::string(option) + " '" + path + "' is a directory");
}

std::string moments_text(const data::Moments& m) {
  return m.stddev > 0 ? exact(m.mean) + "," + exact(m.stddev) : "";
}

}  // namespace

// ---- training ------------------------------------------------------------------

namespace {

#if NABLA_WITH_MPI
using Reducer = dist::GradientReducer;
#else
struct Reducer {};  // never made without MPI
#endif

// The options as the run uses them: checked, the outputs dropped on ranks
// other than 0 (checked writable on rank 0), the thread count set.
TrainOptions checked_options(const TrainOptions& options, int rank) {
  TrainOptions o = options;
  if (o.epochs < 1) throw Error("--epochs " + std::to_string(o.epochs) + ": at least 1");
  if (o.batch < 1) throw Error("--batch " + std::to_string(o.batch) + ": at least 1");
  if (o.threads < 0) throw Error("--threads " + std::to_string(o.threads) + ": at least 1 (0: default)");
  if (o.limit < 0) throw Error("--limit " + std::to_string(o.limit) + ": at least 1 (0: all)");
  if (!(o.clip_grad_norm >= 0.f))
    throw Error("--clip-grad-norm " + exact(o.clip_grad_norm) + ": must be > 0 (0: no clipping)");
  o.schedule = resolved_schedule(o.schedule, o.epochs);
  if (rank != 0) o.save = o.log = o.plot = "";
  check_writable(o.save, "--save");
  check_writable(o.save.empty() ? "" : o.save + ".ckpt", "--save");
  check_writable(o.log, "--log");
  check_writable(o.plot, "--plot");
  if (o.threads > 0) set_num_threads(o.threads);
  return o;
}

// The optimiser and schedule options (the command line's or a
// checkpoint's), checked before the data is read: an optimiser and a
// schedule are made over no parameters.
void check_optimizer_settings(const TrainOptions& o) {
  if (o.nesterov && o.optimizer != "sgd")
    throw Error("--nesterov applies to --optimizer sgd, not '" + o.optimizer + "'");
  if (o.nesterov && !(o.momentum > 0.f))
    throw Error("--nesterov needs --momentum > 0 (got " + exact(o.momentum) + ")");
  const std::unique_ptr<nn::Optimizer> opt = make_optimizer(o, {});
  make_schedule(o, *opt);
}

// With several ranks: every rank has passed the setup (`synced` turns
// true), the model specs and settings agree, rank 0's weights and optimiser
// state are everyone's; returns the gradient reducer (null on one rank).
std::unique_ptr<Reducer> join_ranks([[maybe_unused]] const dist::World* world, [[maybe_unused]] int ranks,
                                    bool& synced, [[maybe_unused]] const nn::ModelSpec& spec,
                                    [[maybe_unused]] const std::string& input_text,
                                    [[maybe_unused]] const TrainOptions& o, [[maybe_unused]] nn::Optimizer& opt,
                                    [[maybe_unused]] const data::Rng& rng,
                                    [[maybe_unused]] const std::vector<EpochStats>& history,
                                    [[maybe_unused]] nn::Sequential& model) {
#if NABLA_WITH_MPI
  std::unique_ptr<Reducer> reducer;
  if (ranks > 1) {
    // Every rank has passed the setup: from here on an error is one rank's
    // alone (train() aborts the job for it).
    world->check_ok("");
    synced = true;
    world->check_same(spec.to_string() + " on [" + input_text + "]", "model specs");
    std::string settings;
    for (const auto& [k, v] : run_settings(o, spec.to_string())) settings += k + "=" + v + " ";
    settings += "epochs=" + std::to_string(o.epochs) + " steps=" + std::to_string(opt.steps()) +
                " rng=" + std::to_string(rng.state()) + " history=" + std::to_string(history.size());
    world->check_same(settings, "run settings");
    // Rank 0's weights and optimiser state for everyone (equal already when
    // all ranks seeded or resumed alike; this makes it so by construction).
    std::vector<Tensor> state;
    for (nn::Parameter* p : model.parameters()) state.push_back(p->value);
    for (const Tensor& t : opt.state()) state.push_back(t);
    world->broadcast(state, 0);
    reducer = std::make_unique<Reducer>(*world, model.parameters(), 2);
  }
  return reducer;
#else
  std::unique_ptr<Reducer> reducer;
  synced = true;
  return reducer;
#endif
}

// --augment "crop[:P],flip" as a data::Augment; fill is the normalised value of a raw 0.
data::Augment parse_augment(const std::string& text, const data::Moments& norm) {
  data::Augment a;
  if (text.empty()) return a;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (item == "flip") {
      a.flip = true;
    } else if (item == "crop" || item.rfind("crop:", 0) == 0) {
      a.crop_padding = item == "crop" ? 2 : parse_number<int64_t>(item.substr(5), "--augment crop padding");
      if (a.crop_padding < 1 || a.crop_padding > 64)
        throw Error("--augment '" + text + "': crop padding " + std::to_string(a.crop_padding) + " is not in [1, 64]");
    } else {
      throw Error("--augment '" + text + "': unknown '" + item + "' (expected crop, crop:P or flip, comma-separated)");
    }
  }
  a.fill = norm.stddev > 0.f ? (0.f - norm.mean) / norm.stddev : 0.f;
  return a;
}

// What on_start reports: the model's summary, loss, optimiser, data.
std::string start_text(const TrainOptions& o, nn::Sequential& model, const Data& data, const nn::BuiltModel& built,
                       const nn::ModelSpec& spec, bool binary, int ranks, const std::vector<EpochStats>& history) {
  std::vector<int64_t> input = {o.batch};
  const auto sample = data.train.sample_shape();
  input.insert(input.end(), sample.begin(), sample.end());
  std::string text = model.summary(input);
  std::string loss = binary ? (built.ends_in_sigmoid ? "binary cross-entropy" : "binary cross-entropy from logits")
                            : "softmax cross-entropy";
  text += "spec: " + spec.to_string() + "\nloss: " + loss + "; optimizer: " + o.optimizer + " lr " + exact(o.lr) +
          (o.optimizer == "sgd" ? " momentum " + exact(o.momentum) + (o.nesterov ? " nesterov" : "") : "") +
          (o.weight_decay != 0.f ? " weight decay " + exact(o.weight_decay) : "") +
          (o.schedule.empty() ? "" : "; schedule " + o.schedule) + (o.warmup.empty() ? "" : "; warm-up " + o.warmup) +
          (o.clip_grad_norm > 0.f ? "; gradient norm clipped at " + exact(o.clip_grad_norm) : "") +
          (o.augment.empty() ? "" : "; augment " + o.augment) +
          "; batch " + std::to_string(o.batch) +
          "; threads " + std::to_string(num_threads()) +
          (ranks > 1 ? "; " + std::to_string(ranks) + " ranks (global batch " + std::to_string(ranks * o.batch) + ")"
                     : std::string()) +
          "\ndata: " + std::to_string(data.train.size()) +
          " training samples" + (data.has_test ? ", " + std::to_string(data.test.size()) + " test samples" : "") +
          ", " + std::to_string(binary ? 2 : built.outputs) + " classes\n";
  if (!history.empty()) text += "resuming after epoch " + std::to_string(history.size()) + " from '" + o.resume + "'\n";
  return text;
}

// One epoch of training steps (the batches of this rank's shard, the
// gradients summed over ranks): the epoch's training loss and accuracy,
// its time and speed; the step times accumulate into step_seconds and
// steps_timed.
EpochStats train_epoch(int epoch, data::BatchIterator& it, data::Rng& rng, nn::Sequential& model, Objective& objective,
                       nn::Optimizer& opt, float clip_grad_norm, [[maybe_unused]] Reducer* reducer, int64_t outputs,
                       const TrainObserver& observer, double& step_seconds, int64_t& steps_timed) {
  const auto t0 = std::chrono::steady_clock::now();
  it.start(&rng, epoch);
  double loss_sum = 0;
  int64_t right = 0, seen = 0, done = 0;
  while (it.next()) {
    const auto s0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    const int64_t b = it.batch_size();
    float loss = 0;
    int64_t batch_right = 0;
    if (b > 0) {  // a rank's slice of a short last batch may be empty
      const Tensor out = model.forward(it.x());
      loss = objective.loss->forward(out, it.y());
      model.backward(objective.loss->backward());
      for (int64_t i = 0; i < b; ++i)
        batch_right += objective.predict(out.data() + i * outputs, outputs) == it.labels()[i];
    }
    double batch_loss_sum = static_cast<double>(loss) * static_cast<double>(b);
#if NABLA_WITH_MPI
    if (reducer) {
      // Each rank's gradient is that of its slice's mean loss; scaled by
      // slice / global batch, the sum over ranks is the gradient of the
      // global batch's mean loss. The loss sum and the right predictions
      // travel in the same buffer.
      float extra[2] = {static_cast<float>(batch_loss_sum), static_cast<float>(batch_right)};
      reducer->reduce(static_cast<float>(b) / static_cast<float>(it.global_batch_size()), extra);
      batch_loss_sum = extra[0];
      batch_right = static_cast<int64_t>(extra[1]);
      loss = static_cast<float>(batch_loss_sum / static_cast<double>(it.global_batch_size()));
    }
#endif
    if (clip_grad_norm > 0.f) nn::clip_grad_norm(model.parameters(), clip_grad_norm);  // on the summed gradient
    opt.step();
    step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    ++steps_timed;
    loss_sum += batch_loss_sum;
    right += batch_right;
    seen += it.global_batch_size();
    if (!std::isfinite(loss))
      throw Error("training diverged (loss " + exact(loss) + " in epoch " + std::to_string(epoch) +
                  "); try a smaller --lr");
    if (observer.on_batch)
      observer.on_batch(epoch, ++done, it.num_batches(), loss_sum / static_cast<double>(seen),
                        static_cast<double>(right) / static_cast<double>(seen));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EpochStats s{epoch, loss_sum / static_cast<double>(seen), static_cast<double>(right) / static_cast<double>(seen),
               kNaN, kNaN, secs, static_cast<double>(seen) / secs};
  return s;
}

#if NABLA_WITH_MPI
// What on_end reports with several ranks: the allreduce's share of a step.
std::string allreduce_text(const Reducer& reducer, double step_seconds, int64_t steps_timed) {
  const double step = step_seconds / static_cast<double>(steps_timed);
  const double red = reducer.seconds() / static_cast<double>(reducer.calls());
  char text[512];
  std::snprintf(text, sizeof text,
                "allreduce: %.2f MB/step (%lld floats in one buffer; %.2f MB sent per rank), %.2f ms of the "
                "%.2f ms step = %.1f%% of step time (rank 0, mean of %lld steps; includes waiting for the slowest rank)\n",
                static_cast<double>(reducer.bytes_per_step()) / 1e6,
                static_cast<long long>(reducer.bytes_per_step() / 4),
                static_cast<double>(reducer.bytes_sent_per_step()) / 1e6, 1e3 * red, 1e3 * step,
                100 * red / step, static_cast<long long>(steps_timed));
  return text;
}
#endif

// The body of train(); `synced` turns true once every rank has passed the
// setup (see train()).
std::vector<EpochStats> train_body(const TrainOptions& options, const TrainObserver& given_observer,
                                   const dist::World* world, bool& synced) {
#if NABLA_WITH_MPI
  const int rank = world ? world->rank() : 0, ranks = world ? world->size() : 1;
#else
  (void)world;
  const int rank = 0, ranks = 1;
#endif
  // Only rank 0 reports and writes files.
  const TrainObserver observer = rank == 0 ? given_observer : TrainObserver{};
  TrainOptions o = checked_options(options, rank);

  nn::TensorFile ckpt;
  if (!o.resume.empty()) ckpt = read_checkpoint(o);
  check_optimizer_settings(o);
  const nn::ModelSpec spec = nn::parse_spec(nn::resolve_model(o.model));
  const Data data = load_data(o.data, o.test_data, o.label, o.classes, o.limit, o.normalize);
  nn::manual_seed(o.seed);
  nn::BuiltModel built = nn::build_classifier(spec, data.train.sample_shape(), data.train.num_classes);
  nn::Sequential& model = built.model;
  const bool binary = built.outputs == 1;
  Objective objective(binary, built.ends_in_sigmoid), test_objective(binary, built.ends_in_sigmoid);
  const std::unique_ptr<nn::Optimizer> optimizer = make_optimizer(o, model.parameters());
  nn::Optimizer& opt = *optimizer;
  const std::unique_ptr<nn::Schedule> schedule = make_schedule(o, opt);
  data::Rng rng(o.seed ^ 0x53485546464c45ull);  // "SHUFFLE": a stream apart from the weights'
  std::vector<EpochStats> history;

  const std::string input_text = join(data.train.sample_shape());
  std::vector<int64_t> cls64(o.classes.begin(), o.classes.end());
  const nn::Metadata model_meta = {{"nabla.spec", spec.to_string()},
                                   {"nabla.input", input_text},
                                   {"nabla.classes", join(cls64)},
                                   {"nabla.normalize", moments_text(data.norm)}};
  if (!o.resume.empty()) {
    const Resumed r = restore_checkpoint(ckpt, o, input_text, ranks, model, opt.state());
    opt.set_steps(r.steps);
    if (schedule) schedule->set_epoch(r.schedule_epoch);
    rng.set_state(r.rng);
    history = r.history;
  }
  const data::Augment augment = parse_augment(o.augment, data.norm);
  std::unique_ptr<Reducer> reducer = join_ranks(world, ranks, synced, spec, input_text, o, opt, rng, history, model);
  if (observer.on_start) observer.on_start(start_text(o, model, data, built, spec, binary, ranks, history));

  data::BatchIterator it(data.train, o.batch * ranks, binary);
  if (ranks > 1) it.set_shard(rank, ranks);
  it.set_augment(augment, o.seed);
  const int64_t outputs = built.outputs;
  double step_seconds = 0;
  int64_t steps_timed = 0;
  for (int epoch = static_cast<int>(history.size()) + 1; epoch <= o.epochs; ++epoch) {
    EpochStats s = train_epoch(epoch, it, rng, model, objective, opt, o.clip_grad_norm, reducer.get(), outputs,
                               observer, step_seconds, steps_timed);
    if (schedule) schedule->step();  // per epoch, as torch's schedulers
    if (data.has_test && rank == 0) {  // the replicas are equal: rank 0 alone evaluates
      const Evaluation e = run_eval(model, data.test, test_objective, outputs, o.batch);
      s.test_loss = e.loss;
      s.test_accuracy = e.accuracy;
    }
    history.push_back(s);

    if (!o.save.empty()) {
      nn::save(model, o.save, model_meta);
      write_checkpoint(o.save + ".ckpt", model, opt.state(), opt.steps(), schedule ? schedule->epoch() : 0, rng.state(),
                       ranks, history, model_meta, o, spec);
    }
    if (!o.log.empty()) nabla::write_file_atomic(o.log, log_csv(history));
    if (!o.plot.empty()) nabla::write_file_atomic(o.plot, plot_svg(history, "nabla: " + spec.to_string()));
    if (observer.on_epoch) observer.on_epoch(s);
  }
#if NABLA_WITH_MPI
  if (reducer && observer.on_end && steps_timed > 0) {
    observer.on_end(allreduce_text(*reducer, step_seconds, steps_timed));
  }
#endif
  return history;
}

}  // namespace

std::vector<EpochStats> train(const TrainOptions& options, const TrainObserver& observer, const dist::World* world) {
  bool synced = false;
  try {
    return train_body(options, observer, world, synced);
  } catch (const std::exception& e) {
#if NABLA_WITH_MPI
    // An error in the setup: tell the other ranks (waiting in the same
    // check), so that every rank ends with rank 0 naming it.
    if (world && world->size() > 1 && !synced && !dynamic_cast<const dist::CollectiveError*>(&e))
      world->check_ok(e.what());
#endif
    throw;
  }
}

// ---- evaluation ------------------------------------------------------------------

Evaluation evaluate_file(const std::string& model_path, const std::string& data_path, const std::string& label) {
  const nn::TensorFile file = nn::load_tensors(model_path);
  auto meta = [&](const std::string& k) {
    auto it = file.metadata.find(k);
    if (it == file.metadata.end())
      throw Error("'" + model_path + "': no metadata '" + k + "' (not a model saved by nabla train --save)");
    return it->second;
  };
  const nn::ModelSpec spec = nn::parse_spec(meta("nabla.spec"));
  const std::string cls = meta("nabla.classes");
  const std::vector<int32_t> classes = cls.empty() ? std::vector<int32_t>{} : to_int32(split_ints(cls, "nabla.classes"));
  Data d;
  if (is_csv(data_path)) {
    d.test = data::read_csv(data_path, data::CsvOptions{label});
    if (!classes.empty()) d.test = data::select_classes(d.test, classes);
  } else {
    d = load_data(data_path, "", label, classes, 0, false);
  }
  if (join(d.test.sample_shape()) != meta("nabla.input"))
    throw Error("'" + model_path + "': the model takes samples of shape [" + meta("nabla.input") + "], '" + data_path +
                "' has " + shape_string(d.test.sample_shape()));
  if (const std::string norm = meta("nabla.normalize"); !norm.empty()) {
    const auto comma = norm.find(',');
    data::normalize(d.test, {parse_number<float>(norm.substr(0, comma), "nabla.normalize"),
                             parse_number<float>(comma == std::string::npos ? "" : norm.substr(comma + 1), "nabla.normalize")});
  }
  // The number of classes comes from the model's output layer.
  const int64_t k = nn::spec_classes(spec);
  if (d.test.num_classes > k)
    throw Error("'" + data_path + "' has " + std::to_string(d.test.num_classes) + " classes, the model predicts " +
                std::to_string(k));
  d.test.num_classes = k;
  nn::BuiltModel built = nn::build_classifier(spec, d.test.sample_shape(), k);
  nn::load(built.model, model_path);
  Objective obj(built.outputs == 1, built.ends_in_sigmoid);
  return run_eval(built.model, d.test, obj, built.outputs, 256);
}

// ---- outputs -------------------------------------------------------------------------

std::string log_csv(const std::vector<EpochStats>& history) {
  std::string s = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,samples_per_second\n";
  char line[256];
  for (const auto& e : history) {
    auto opt = [](double v, char* buf) {
      if (std::isnan(v)) buf[0] = 0;
      else std::snprintf(buf, 32, "%.6f", v);
      return buf;
    };
    char tl[32], ta[32];
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%s,%s,%.3f,%.1f\n", e.epoch, e.train_loss, e.train_accuracy,
                  opt(e.test_loss, tl), opt(e.test_accuracy, ta), e.seconds, e.samples_per_s);
    s += line;
  }
  return s;
}

}  // namespace nabla::cli
