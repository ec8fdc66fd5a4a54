// The settings of a training run and its checkpoint (see checkpoint.hpp).
#include "checkpoint.hpp"

#include <sstream>
#include <utility>

namespace nabla::cli {

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

std::vector<int64_t> split_ints(const std::string& s, const std::string& what) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  for (std::string t; std::getline(in, t, ',');) v.push_back(parse_number<int64_t>(t, what));
  return v;
}

std::vector<int32_t> to_int32(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

Settings run_settings(const TrainOptions& o, const std::string& spec) {
  std::vector<int64_t> cls(o.classes.begin(), o.classes.end());
  return {{"model", spec},
          {"optimizer", o.optimizer},
          {"lr", exact(o.lr)},
          {"momentum", exact(o.momentum)},
          {"weight-decay", exact(o.weight_decay)},
          {"nesterov", o.nesterov ? "yes" : "no"},
          {"schedule", o.schedule},
          {"warmup", o.warmup},
          {"clip-grad-norm", exact(o.clip_grad_norm)},
          {"augment", o.augment},
          {"data", o.data},
          {"test-data", o.test_data},
          {"label", o.label},
          {"batch", std::to_string(o.batch)},
          {"seed", std::to_string(o.seed)},
          {"classes", join(cls)},
          {"limit", std::to_string(o.limit)},
          {"normalize", o.normalize ? "yes" : "no"}};
}

void apply_settings(TrainOptions& o, const Settings& s, const std::string& path) {
  auto get = [&](const std::string& k) {
    auto it = s.find(k);
    if (it == s.end()) throw Error("'" + path + "': checkpoint has no setting '" + k + "'");
    return it->second;
  };
  const std::string what = "'" + path + "': checkpoint setting";
  o.model = get("model");
  o.optimizer = get("optimizer");
  o.lr = parse_number<float>(get("lr"), what + " lr");
  o.momentum = parse_number<float>(get("momentum"), what + " momentum");
  o.weight_decay = parse_number<float>(get("weight-decay"), what + " weight-decay");
  // Settings added with AdamW/RMSprop and the schedules: absent from older
  // checkpoints, whose runs had none of them.
  auto get_or = [&](const std::string& k, const std::string& fallback) {
    auto it = s.find(k);
    return it == s.end() ? fallback : it->second;
  };
  o.nesterov = get_or("nesterov", "no") == "yes";
  o.schedule = get_or("schedule", "");
  o.warmup = get_or("warmup", "");
  o.clip_grad_norm = parse_number<float>(get_or("clip-grad-norm", "0"), what + " clip-grad-norm");
  o.augment = get_or("augment", "");
  // The data the run trained on (older checkpoints: what this run names).
  o.data = get_or("data", o.data);
  o.test_data = get_or("test-data", o.test_data);
  o.label = get_or("label", o.label);
  o.batch = parse_number<int64_t>(get("batch"), what + " batch");
  o.seed = parse_number<uint64_t>(get("seed"), what + " seed");
  const std::string cls = get("classes");
  o.classes = cls.empty() ? std::vector<int32_t>{} : to_int32(split_ints(cls, what + " classes"));
  o.limit = parse_number<int64_t>(get("limit"), what + " limit");
  o.normalize = get("normalize") == "yes";
}

std::string history_text(const std::vector<EpochStats>& h) {
  std::string s;
  for (const auto& e : h) {
    if (!s.empty()) s += ';';
    s += std::to_string(e.epoch) + "," + exact(e.train_loss) + "," + exact(e.train_accuracy) +
         "," + exact(e.test_loss) + "," + exact(e.test_accuracy) + "," + exact(e.seconds) + "," + exact(e.samples_per_s);
  }
  return s;
}

std::vector<EpochStats> parse_history(const std::string& s, const std::string& path) {
  std::vector<EpochStats> h;
  std::stringstream in(s);
  const std::string what = "'" + path + "': checkpoint history";
  for (std::string line; std::getline(in, line, ';');) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string t; std::getline(ls, t, ',');) f.push_back(t);
    if (f.size() != 7) throw Error(what + " entry '" + line + "' has " + std::to_string(f.size()) + " fields, expected 7");
    auto num = [&](size_t i) { return f[i] == "nan" ? kNaN : parse_number<double>(f[i], what); };
    h.push_back({parse_number<int>(f[0], what), num(1), num(2), num(3), num(4), num(5), num(6)});
  }
  return h;
}

nn::TensorFile read_checkpoint(TrainOptions& o) {
  nn::TensorFile ckpt;
  ckpt = nn::load_tensors(o.resume);
  if (ckpt.metadata["nabla.format"] != "checkpoint-1")
    throw Error("'" + o.resume + "': not a nabla checkpoint (pass the PATH.ckpt file --save wrote)");
  Settings saved;
  for (const auto& [k, v] : ckpt.metadata)
    if (k.starts_with("run.")) saved[k.substr(4)] = v;
  const Settings mine = run_settings(o, nn::parse_spec(nn::resolve_model(o.model)).to_string());
  for (const std::string& g : o.given) {
    const auto a = mine.find(g);
    const auto b = std::as_const(saved).find(g);
    if (a != mine.end() && b != saved.end() && a->second != b->second)
      throw Error("--" + g + " '" + a->second + "' does not match the checkpoint's '" + b->second + "' ('" +
                  o.resume + "'; leave the option out to continue with the checkpoint's)");
  }
  apply_settings(o, saved, o.resume);
  return ckpt;
}

Resumed restore_checkpoint(nn::TensorFile& ckpt, const TrainOptions& o, const std::string& input_text, int ranks,
                           nn::Sequential& model, std::vector<Tensor> optim_state) {
  Resumed r;
  auto& meta = ckpt.metadata;
  if (meta["nabla.input"] != input_text)
    throw Error("'" + o.resume + "': checkpoint was trained on samples of shape [" + meta["nabla.input"] +
                "], the data has [" + input_text + "]");
  std::map<std::string, Tensor> tensors(ckpt.tensors.begin(), ckpt.tensors.end());
  auto restore = [&](const std::string& name, Tensor& dst) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw Error("'" + o.resume + "': checkpoint has no tensor '" + name + "'");
    if (it->second.shape() != dst.shape())
      throw Error("'" + o.resume + "': tensor '" + name + "' has shape " + shape_string(it->second.shape()) +
                  ", the model expects " + shape_string(dst.shape()));
    dst.copy_from(it->second);
  };
  for (auto& [name, p] : model.named_parameters()) restore("model." + name, p->value);
  for (size_t i = 0; i < optim_state.size(); ++i) restore("optim." + std::to_string(i), optim_state[i]);
  // Buffers (BatchNorm's running statistics; counters in the metadata) and the dropout stream.
  for (auto& [name, b] : model.named_buffers()) {
    if (b.value) restore("buffer." + name, *b.value);
    if (b.count) *b.count = parse_number<int64_t>(meta["nabla.buffer." + name], "'" + o.resume + "': nabla.buffer." + name);
  }
  if (meta.count("nabla.random")) {
    const std::vector<int64_t> st = split_ints(meta["nabla.random"], "'" + o.resume + "': nabla.random");
    if (st.size() != 3) throw Error("'" + o.resume + "': nabla.random has " + std::to_string(st.size()) + " fields, expected 3");
    nn::set_random_state({static_cast<uint64_t>(st[0]), static_cast<uint64_t>(st[1]), static_cast<uint64_t>(st[2])});
  }
  r.steps = parse_number<int64_t>(meta["nabla.steps"], "'" + o.resume + "': nabla.steps");
  const std::string saved_ranks = meta.count("nabla.ranks") ? meta["nabla.ranks"] : "1";
  if (saved_ranks != std::to_string(ranks))
    throw Error("'" + o.resume + "': checkpoint was trained on " + saved_ranks + " rank(s), this run has " +
                std::to_string(ranks) + "; resume with the same number (mpirun -np " + saved_ranks + ")");
  r.rng = parse_number<uint64_t>(meta["nabla.rng"], "'" + o.resume + "': nabla.rng");
  r.history = parse_history(meta["nabla.history"], o.resume);
  r.schedule_epoch = meta.count("nabla.schedule_epoch")
                         ? parse_number<int64_t>(meta["nabla.schedule_epoch"], "'" + o.resume + "': nabla.schedule_epoch")
                         : static_cast<int64_t>(r.history.size());
  if (static_cast<int>(r.history.size()) >= o.epochs)
    throw Error("'" + o.resume + "' already holds " + std::to_string(r.history.size()) + " epochs; ask for more with --epochs");
  return r;
}

void write_checkpoint(const std::string& path, nn::Sequential& model, const std::vector<Tensor>& optim_state,
                      int64_t steps, int64_t schedule_epoch, uint64_t rng, int ranks, const std::vector<EpochStats>& history,
                      const nn::Metadata& model_meta, const TrainOptions& o, const nn::ModelSpec& spec) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : model.named_parameters()) tensors.emplace_back("model." + name, p->value);
  for (size_t i = 0; i < optim_state.size(); ++i) tensors.emplace_back("optim." + std::to_string(i), optim_state[i]);
  nn::Metadata meta = model_meta;
  for (auto& [name, b] : model.named_buffers()) {
    if (b.value) tensors.emplace_back("buffer." + name, *b.value);
    if (b.count) meta["nabla.buffer." + name] = std::to_string(*b.count);
  }
  const nn::RandomState rs = nn::random_state();
  meta["nabla.random"] = join({static_cast<int64_t>(rs.init), static_cast<int64_t>(rs.seed), static_cast<int64_t>(rs.counter)});
  meta["nabla.format"] = "checkpoint-1";
  meta["nabla.steps"] = std::to_string(steps);
  meta["nabla.schedule_epoch"] = std::to_string(schedule_epoch);
  meta["nabla.rng"] = std::to_string(rng);
  meta["nabla.ranks"] = std::to_string(ranks);
  meta["nabla.history"] = history_text(history);
  for (const auto& [k, v] : run_settings(o, spec.to_string())) meta["run." + k] = v;
  nn::save_tensors(path, tensors, meta);
}

}  // namespace nabla::cli
