// `nabla prof --model`: one training step, traced; every kernel call a row.
#include <algorithm>
#include <memory>
#include <mutex>
#include <utility>

#include "nabla/nn/presets.hpp"
#include "nabla/error.hpp"
#include "nabla/nn/loss.hpp"
#include "nabla/nn/optim.hpp"
#include "nabla/runtime/trace.hpp"
#include "prof_internal.hpp"
#include "trainer.hpp"

namespace nabla::cli {

TraceCollector::TraceCollector(bool nested) : nested_(nested) {}

void TraceCollector::record(trace::Event e) {
  const std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
}

std::vector<trace::Event> TraceCollector::take() {
  const std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(events_, {});
}

struct ModelStep::Impl {
  nn::BuiltModel bm;
  std::string spec;
  Tensor x, target;
  nn::SoftmaxCrossEntropy ce;
  nn::BinaryCrossEntropy bce{true};
  std::unique_ptr<nn::Adam> opt;
};

ModelStep::ModelStep(const std::string& preset_or_spec, int64_t batch) : impl_(std::make_unique<Impl>()) {
  if (batch < 1 || batch > 65536) throw Error("--batch must be in [1, 65536], got " + std::to_string(batch));
  Impl& s = *impl_;
  const nn::ModelSpec spec = nn::parse_spec(nn::resolve_model(preset_or_spec));
  s.spec = spec.to_string();
  const std::vector<int64_t> sample =
      nn::spec_takes_images(spec) ? std::vector<int64_t>{1, 28, 28} : std::vector<int64_t>{784};
  s.bm = nn::build_classifier(spec, sample, nn::spec_classes(spec));
  std::vector<int64_t> xshape = {batch};
  xshape.insert(xshape.end(), sample.begin(), sample.end());
  s.x = Tensor::uniform(xshape, -1.f, 1.f, 1);
  s.bce = nn::BinaryCrossEntropy(!s.bm.ends_in_sigmoid);
  if (s.bm.outputs == 1) {
    s.target = Tensor({batch, 1});
    for (int64_t i = 0; i < batch; ++i) s.target.data()[i] = static_cast<float>(i % 2);
  } else {
    s.target = Tensor({batch});
    for (int64_t i = 0; i < batch; ++i) s.target.data()[i] = static_cast<float>(i % s.bm.outputs);
  }
  s.opt = std::make_unique<nn::Adam>(s.bm.model.parameters(), 1e-3f);
}

ModelStep::~ModelStep() = default;

const std::string& ModelStep::spec() const { return impl_->spec; }
nn::Sequential& ModelStep::model() { return impl_->bm.model; }

void ModelStep::operator()() {
  Impl& s = *impl_;
  s.bm.model.zero_grad();
  const Tensor y = s.bm.model.forward(s.x);
  Tensor g;
  {
    const trace::LayerScope scope(-1, [] { return std::string("loss"); }, trace::Pass::Loss);
    if (s.bm.outputs == 1) {
      s.bce.forward(y, s.target);
      g = s.bce.backward();
    } else {
      s.ce.forward(y, s.target);
      g = s.ce.backward();
    }
  }
  s.bm.model.backward(g);
  const trace::LayerScope scope(-1, [] { return std::string("optimiser"); }, trace::Pass::Optimiser);
  s.opt->step();
}

namespace prof_detail {

void profile_model(const ProfOptions& o, ProfReport& r, const Roof& roof) {
  if (o.batch < 1 || o.batch > 65536) throw Error("prof: --batch must be in [1, 65536], got " + std::to_string(o.batch));
  if (!o.shapes.empty()) throw Error("prof: --shape applies to a family, not to --model");
  if (o.steps < 1) throw Error("prof: steps must be >= 1");
  ModelStep step(o.model, o.batch);
  r.model = step.spec();
  r.batch = o.batch;
  nn::Sequential& model = step.model();
  for (int i = 0; i < 2; ++i) step();  // warm-up: buffers sized, caches and threads warm
  std::vector<double> plain;
  for (int i = 0; i < o.steps; ++i) {
    const double t0 = now();
    step();
    plain.push_back(now() - t0);
  }
  r.step_seconds = median(plain);

  TraceCollector sink;
  std::vector<std::vector<trace::Event>> steps;
  std::vector<double> traced;
  {
    const TraceGuard guard(&sink);
    for (int i = 0; i < o.steps; ++i) {
      const double t0 = now();
      step();
      traced.push_back(now() - t0);
      steps.push_back(sink.take());
    }
  }
  r.traced_step_seconds = median(traced);
  // The same calls in the same order every step: row i is the median of
  // call i over the steps (the first step's calls if they ever differ).
  // The optimiser updates the parameters in named_parameters() order: its
  // calls are attributed to their layers ("0 Conv2D 1→6 5×5 (weight)").
  const auto named = model.named_parameters();
  size_t opt_call = 0;
  const std::vector<trace::Event>& base = steps.front();
  bool same = true;
  for (const auto& s : steps) same = same && s.size() == base.size();
  for (size_t i = 0; i < base.size(); ++i) {
    const trace::Event& e = base[i];
    ProfRow row;
    row.layer = e.layer;
    row.layer_name = e.layer_name;
    row.pass = trace::pass_name(e.pass);
    if (e.pass == trace::Pass::Optimiser && e.layer < 0 && opt_call < named.size()) {
      const std::string& name = named[opt_call++].first;  // "<layer>.<parameter>"
      const size_t dot = name.find('.');
      row.layer = std::stoll(name.substr(0, dot));
      row.layer_name = model.layer(row.layer).name() + " (" + name.substr(dot + 1) + ")";
    }
    row.variant = e.call.kernel;
    row.shape = e.call.shape;
    row.flops = e.call.flops;
    row.bytes = e.call.bytes;
    std::vector<double> t;
    for (const auto& s : steps)
      if (same && s[i].call.kernel == e.call.kernel) t.push_back(s[i].seconds);
    if (t.empty()) t.push_back(e.seconds);
    row.seconds = median(t);
    row.best_seconds = *std::min_element(t.begin(), t.end());
    row.share = r.traced_step_seconds > 0 ? row.seconds / r.traced_step_seconds : 0;
    fill_figures(row, roof);
    r.rows.push_back(std::move(row));
  }
}

}  // namespace prof_detail
}  // namespace nabla::cli
