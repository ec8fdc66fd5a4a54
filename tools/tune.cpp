// `nabla tune`: machine limits, then a coordinate search over the GEMM
// configuration. Every comparison is interleaved (current best, candidate,
// best, candidate, ... on each shape, medians), because this kind of machine
// drifts by more than the differences we look for; the same protocol run on
// the default against itself gives the noise a change must beat.
#include "tune.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>

#include "kernels/conv/conv_internal.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "kernels/gemm/gemm_shapes.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/measure.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/runtime/trace.hpp"
#include "prof.hpp"

namespace nabla::cli {
namespace {

using Clock = std::chrono::steady_clock;
using kernels::Trans;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One shape at one thread count, with its operands.
struct Problem {
  TuneShape s;
  int threads = 1;
  std::vector<float> a, b, c;
  int calls = 1;   // GEMM calls per timing sample (about 2 ms)
  int rounds = 5;  // samples per configuration in a comparison

  double flops() const { return 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k); }

  // Seconds per call, over `calls` calls.
  double time(int n_calls) {
    const int64_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    const auto t0 = Clock::now();
    for (int i = 0; i < n_calls; ++i)
      kernels::gemm(s.ta ? Trans::Yes : Trans::No, s.tb ? Trans::Yes : Trans::No, s.m, s.n, s.k, 1.f, a.data(), lda,
                    b.data(), ldb, 0.f, c.data(), s.n);
    return seconds_since(t0) / n_calls;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

class Tuner {
 public:
  Tuner(const TuneOptions& o, const TuneProgress& progress)
      : isa_(active_isa()), budget_(o.budget_s), progress_(progress), start_(Clock::now()) {
    if (!(o.budget_s >= 5) || o.budget_s > 86400) throw Error("tune: --budget must be 5..86400 seconds");
    std::vector<int> threads = o.threads;
    if (threads.empty()) {
      threads.push_back(1);
      if (cpu_info().physical_cores > 1) threads.push_back(cpu_info().physical_cores);
    }
    for (int t : threads)
      if (t < 1 || t > 1024) throw Error("tune: thread counts must be 1..1024 (got " + std::to_string(t) + ")");
    threads_ = threads;
    conv_shapes_ = o.conv_shapes;
    for (const kernels::ConvParams& c : conv_shapes_) kernels::ConvShape{c};  // validates (nabla::Error)
    std::vector<TuneShape> shapes = o.training_shapes ? default_tune_shapes() : std::vector<TuneShape>{};
    for (const TuneShape& s : o.extra_shapes) {
      if (s.m < 1 || s.n < 1 || s.k < 1) throw Error("tune: shape '" + s.name + "' has a zero dimension");
      const bool dup = std::any_of(shapes.begin(), shapes.end(), [&](const TuneShape& x) {
        return x.ta == s.ta && x.tb == s.tb && x.m == s.m && x.n == s.n && x.k == s.k;
      });
      if (!dup) shapes.push_back(s);
    }
    if (shapes.empty()) throw Error("tune: no shapes to tune on");
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    for (int t : threads_)
      for (const TuneShape& s : shapes) {
        Problem p;
        p.s = s;
        p.threads = t;
        p.a.resize(static_cast<size_t>(s.m * s.k));
        p.b.resize(static_cast<size_t>(s.k * s.n));
        p.c.resize(static_cast<size_t>(s.m * s.n));
        for (float& x : p.a) x = d(rng);
        for (float& x : p.b) x = d(rng);
        problems_.push_back(std::move(p));
      }
  }

  Profile run() {
    Profile prof;
    prof.isa = isa_;
    prof.key = profile_key(isa_);
    const int max_threads = *std::max_element(threads_.begin(), threads_.end());
    report("measuring FMA peak and bandwidth");
    prof.limits = measure_limits(isa_, max_threads, std::clamp(budget_ * 0.08, 1.0, 8.0));

    const GemmConfig def = default_gemm_config(isa_);
    report("calibrating");
    calibrate(def);
    report("measuring noise");
    noise_ = measure_noise(def);
    prof.noise = noise_.median;

    GemmConfig best = def;
    for (const auto& [what, candidates] : candidate_sets(def)) {
      for (GemmConfig c : candidates(best)) {
        if (out_of_time(0.8)) break;
        try {
          validate_gemm_config(isa_, c);
        } catch (const Error&) {
          continue;
        }
        if (c == best) continue;
        report(what + ": " + to_string(c));
        const std::vector<double> r = compare(best, c);
        const bool keep = accept(r);
        char verdict[160];
        std::snprintf(verdict, sizeof verdict, "candidate %s=%s: time ratio geomean %.3f, worst shape %.3f -> %s",
                      what.c_str(), value_of(what, c).c_str(), geomean(r), *std::max_element(r.begin(), r.end()),
                      keep ? "kept" : "rejected");
        report(verdict);
        if (keep) best = c;
      }
    }
    report("final comparison with the defaults");
    prof.gemm = best;
    prof.shapes = final_table(def, best);
    if (!conv_shapes_.empty()) {
      set_gemm_config(isa_, best);
      prof.conv = choose_conv(prof.limits, max_threads);
    }
    reset_gemm_config();
    prof.created = utc_now();
    report("done");
    return prof;
  }

 private:
  struct Noise {
    double median = 0, max = 0;
  };

  void report(const std::string& step) {
    if (progress_) progress_(std::min(1.0, seconds_since(start_) / budget_), step);
  }
  bool out_of_time(double share) const { return seconds_since(start_) > share * budget_; }


  void use(const GemmConfig& c, int threads) {
    set_gemm_config(isa_, c);
    set_num_threads(threads);
  }

  // Calls per sample: about 2 ms of work; fewer rounds for the big shapes.
  void calibrate(const GemmConfig& def) {
    for (Problem& p : problems_) {
      use(def, p.threads);
      p.time(1);  // warm-up: packing buffers, threads
      const double t = std::min(p.time(1), p.time(1));
      p.calls = static_cast<int>(std::clamp(2e-3 / std::max(t, 1e-8), 1.0, 10000.0));
      p.rounds = t > 10e-3 ? 3 : 5;
    }
  }

  // Per problem: median time of b ÷ median time of a, samples interleaved.
  std::vector<double> compare(const GemmConfig& a, const GemmConfig& b, int extra_rounds = 0) {
    std::vector<double> ratios;
    for (Problem& p : problems_) {
      std::vector<double> ta, tb;
      for (int r = 0; r < p.rounds + extra_rounds; ++r) {
        use(a, p.threads);
        ta.push_back(p.time(p.calls));
        use(b, p.threads);
        tb.push_back(p.time(p.calls));
      }
      ratios.push_back(median(tb) / median(ta));
    }
    return ratios;
  }

  Noise measure_noise(const GemmConfig& def) {
    const std::vector<double> r = compare(def, def);
    std::vector<double> dev;
    for (double x : r) dev.push_back(std::abs(x - 1));
    Noise n;
    n.median = std::clamp(median(dev), 0.002, 0.2);
    n.max = std::clamp(*std::max_element(dev.begin(), dev.end()), 0.01, 0.5);
    return n;
  }

  static double geomean(const std::vector<double>& ratios) {
    double log_sum = 0;
    for (double r : ratios) log_sum += std::log(r);
    return std::exp(log_sum / static_cast<double>(ratios.size()));
  }

  // Faster overall beyond twice the median noise, and no problem slower
  // beyond the largest deviation the default showed against itself.
  bool accept(const std::vector<double>& ratios) const {
    const double worst = *std::max_element(ratios.begin(), ratios.end());
    return geomean(ratios) < 1 - std::max(0.01, 2 * noise_.median) && worst < 1 + std::max(0.02, noise_.max);
  }

  // The value of the parameter a candidate set varies, for the log.
  static std::string value_of(const std::string& what, const GemmConfig& c) {
    auto num = [](double v) {
      char b[32];
      std::snprintf(b, sizeof b, "%g", v);
      return std::string(b);
    };
    if (what == "kc") return std::to_string(c.kc);
    if (what == "mc") return std::to_string(c.mc);
    if (what == "nc") return std::to_string(c.nc);
    if (what == "small_flops") return num(c.small_flops);
    if (what == "parallel_flops") return num(c.parallel_flops);
    if (what == "task_flops") return num(c.task_flops);
    return std::to_string(c.mr) + "x" + std::to_string(c.nr);
  }

  using Generator = std::function<std::vector<GemmConfig>(const GemmConfig&)>;

  // The candidates for one parameter: the current best with the parameter
  // set to each value in turn.
  template <class T>
  static Generator vary(T GemmConfig::*field, std::vector<T> values) {
    return [field, values](const GemmConfig& b) {
      std::vector<GemmConfig> v;
      for (T x : values) {
        GemmConfig c = b;
        c.*field = x;
        v.push_back(c);
      }
      return v;
    };
  }

  // In search order: the cache blocking first (largest effects), then the
  // small-problem and threading cut-offs, then a fixed micro-tile.
  std::vector<std::pair<std::string, Generator>> candidate_sets(const GemmConfig& def) const {
    auto round_to = [](int64_t x, int64_t m) { return std::max(m, (x + m / 2) / m * m); };
    auto scaled = [&](int64_t base, int64_t mult, std::initializer_list<double> factors) {
      std::vector<int64_t> v;
      for (double f : factors) v.push_back(round_to(static_cast<int64_t>(static_cast<double>(base) * f), mult));
      return v;
    };
    std::vector<std::pair<std::string, Generator>> sets;
    sets.emplace_back("kc", vary(&GemmConfig::kc, std::vector<int64_t>{256, 320, 448, 512, 192}));
    sets.emplace_back("mc", vary(&GemmConfig::mc, scaled(def.mc, def.mr, {0.5, 0.75, 1.5, 2.0})));
    sets.emplace_back("nc", vary(&GemmConfig::nc, scaled(def.nc, def.nr, {0.25, 0.5, 2.0})));
    sets.emplace_back("small_flops", vary(&GemmConfig::small_flops, std::vector<double>{16e6, 32e6, 128e6, 256e6}));
    if (*std::max_element(threads_.begin(), threads_.end()) > 1) {
      sets.emplace_back("parallel_flops", vary(&GemmConfig::parallel_flops, std::vector<double>{0.5e6, 1e6, 4e6, 8e6}));
      sets.emplace_back("task_flops", vary(&GemmConfig::task_flops, std::vector<double>{0.5e6, 2e6, 4e6}));
    }
    const Isa isa = isa_;
    sets.emplace_back("tile", [isa, round_to](const GemmConfig& b) {
      std::vector<GemmConfig> v;
      for (const auto& var : kernels::detail::gemm_variants(isa)) {
        GemmConfig c = b;
        c.auto_tile = false;
        c.mr = var.mr;
        c.nr = var.nr;
        c.mc = round_to(b.mc, var.mr);
        c.nc = round_to(b.nc, var.nr);
        v.push_back(c);
      }
      return v;
    });
    return sets;
  }

  std::vector<TunedShape> final_table(const GemmConfig& def, const GemmConfig& best) {
    const std::vector<double> r = def == best ? std::vector<double>(problems_.size(), 1.0) : compare(def, best, 2);
    std::vector<TunedShape> out;
    for (size_t i = 0; i < problems_.size(); ++i) {
      Problem& p = problems_[i];
      use(def, p.threads);
      std::vector<double> t;
      for (int k = 0; k < 3; ++k) t.push_back(p.time(p.calls));
      TunedShape s;
      s.m = p.s.m;
      s.n = p.s.n;
      s.k = p.s.k;
      s.ta = p.s.ta;
      s.tb = p.s.tb;
      s.threads = p.threads;
      s.default_gflops = p.flops() / median(t) * 1e-9;
      s.tuned_gflops = s.default_gflops / r[i];
      out.push_back(s);
    }
    return out;
  }

  static std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }

  // Per convolution shape and pass: every variant timed (checked against
  // the reference first, as `nabla prof conv` does), at `threads` threads.
  // A variant other than the fixed rule's is kept only when it is the
  // fastest by more than the noise (at least 2%) in two separate timings
  // of all the shape's variants: one timing alone once picked between two
  // variants that run the same code.
  std::vector<ConvChoice> choose_conv(const MachineLimits& limits, int threads) {
    std::vector<ConvChoice> out;
    const double margin = std::max(0.02, noise_.median);
    for (const kernels::ConvParams& p : conv_shapes_) {
      const std::string text = kernels::detail::conv_shape_string(p);
      const kernels::ConvShape s(p);
      ProfOptions o;
      o.family = "conv";
      o.shapes = {text};
      o.threads = threads;
      o.limits = limits;
      o.min_time = std::clamp(budget_ * 1e-3, 0.02, 0.2);
      // Per pass: the winner if it beats the rule's variant beyond the
      // margin (and both times), else null.
      struct Win {
        const char* pass;
        std::string variant, rule;  // the winner, and the fixed rule's variant (its tag)
        double rule_s = 0, won_s = 0;
      };
      auto winners = [&](const ProfReport& r) {
        std::vector<Win> w;
        using kernels::detail::ConvPass;
        for (ConvPass cp : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
          const char* pass = kernels::detail::conv_pass_name(cp);
          const kernels::detail::ConvVariant& def = kernels::detail::conv_default(isa_, s, cp);
          const ProfRow* d = nullptr;
          const ProfRow* fastest = nullptr;
          for (const ProfRow& row : r.rows) {
            if (row.pass != pass || !row.ok) continue;
            if (row.variant == def.name) d = &row;
            if (!fastest || row.seconds < fastest->seconds) fastest = &row;
          }
          if (d && fastest && fastest != d && fastest->seconds < d->seconds * (1 - margin))
            w.push_back({pass, fastest->variant, def.tag, d->seconds, fastest->seconds});
        }
        return w;
      };
      report("convolution variants: " + text);
      const std::vector<Win> first = winners(profile(o));
      if (first.empty()) continue;
      report("convolution variants, again: " + text);
      for (const Win& again : winners(profile(o))) {
        const bool confirmed = std::any_of(first.begin(), first.end(), [&](const Win& f) {
          return std::string(f.pass) == again.pass && f.variant == again.variant;
        });
        if (!confirmed) continue;
        ConvChoice c;
        c.n = p.n, c.c_in = p.c_in, c.h = p.h, c.w = p.w, c.c_out = p.c_out, c.kh = p.kh, c.kw = p.kw;
        c.stride_h = p.stride_h, c.stride_w = p.stride_w, c.pad_h = p.pad_h, c.pad_w = p.pad_w;
        c.dil_h = p.dil_h, c.dil_w = p.dil_w;
        c.pass = again.pass;
        for (const auto& v : kernels::detail::conv_variants(isa_))
          if (again.variant == v.name) c.variant = v.tag;
        c.threads = threads;
        c.default_ms = 1e3 * again.rule_s;
        c.tuned_ms = 1e3 * again.won_s;
        report("candidate " + text + " " + c.pass + ": " + c.variant + " " + std::to_string(c.tuned_ms) +
               " ms against " + again.rule + " " + std::to_string(c.default_ms) + " ms, twice -> kept");
        out.push_back(c);
      }
    }
    return out;
  }

  Isa isa_;
  double budget_;
  TuneProgress progress_;
  Clock::time_point start_;
  std::vector<int> threads_;
  std::vector<Problem> problems_;
  std::vector<kernels::ConvParams> conv_shapes_;
  Noise noise_;
};

}  // namespace

std::vector<TuneShape> default_tune_shapes() {
  std::vector<TuneShape> v;
  for (const auto& s : kernels::detail::kTrainingGemmShapes)
    v.push_back({kernels::detail::shape_name(s), s.ta, s.tb, s.m, s.n, s.k});
  return v;
}

std::vector<TuneShape> model_gemm_shapes(const std::string& preset_or_spec, int64_t batch) {
  // Every kernel call, nested ones too (a convolution's per-image GEMMs
  // run on worker threads).
  TraceCollector sink(true);
  ModelStep step(preset_or_spec, batch);
  {
    const TraceGuard guard(&sink);
    step();
  }
  std::vector<TuneShape> out;
  for (const trace::Event& e : sink.take()) {
    if (e.call.kernel.rfind("f32_gemm", 0) != 0) continue;
    const std::string& text = e.call.shape;
    const GemmShape g = parse_gemm_shape(text);
    const bool seen = std::any_of(out.begin(), out.end(), [&](const TuneShape& s) {
      return s.m == g.m && s.n == g.n && s.k == g.k && s.ta == g.ta && s.tb == g.tb;
    });
    if (!seen) out.push_back({"model:" + text, g.ta, g.tb, g.m, g.n, g.k});
  }
  return out;
}

std::vector<kernels::ConvParams> model_conv_shapes(const std::string& preset_or_spec, int64_t batch) {
  TraceCollector sink(false);
  ModelStep step(preset_or_spec, batch);
  {
    const TraceGuard guard(&sink);
    step();
  }
  std::vector<kernels::ConvParams> out;
  for (const trace::Event& e : sink.take()) {
    if (e.call.kernel.rfind("f32_conv_", 0) != 0) continue;
    const kernels::ConvParams p = parse_conv_shape(e.call.shape);
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

Profile tune(const TuneOptions& options, const TuneProgress& progress) {
  const int threads_before = num_threads();
  Tuner t(options, progress);
  Profile p = t.run();
  set_num_threads(threads_before);
  return p;
}

std::string tune_report(const Profile& p) {
  std::string s = "shape                               threads  default GFLOP/s  tuned GFLOP/s  speed-up\n";
  char line[256];
  for (const TunedShape& t : p.shapes) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%s %lldx%lldx%lld", t.ta ? "T" : "N", t.tb ? "T" : "N",
                  static_cast<long long>(t.m), static_cast<long long>(t.n), static_cast<long long>(t.k));
    std::snprintf(line, sizeof line, "%-36s %7d  %15.1f  %13.1f  %7.3fx\n", name, t.threads, t.default_gflops,
                  t.tuned_gflops, t.tuned_gflops / t.default_gflops);
    s += line;
  }
  if (!p.conv.empty()) {
    s += "\nconvolution                               pass              threads  rule ms  variant     ms  speed-up\n";
    for (const ConvChoice& c : p.conv) {
      const kernels::ConvParams cp{.n = c.n, .c_in = c.c_in, .h = c.h, .w = c.w, .c_out = c.c_out, .kh = c.kh,
                                   .kw = c.kw, .stride_h = c.stride_h, .stride_w = c.stride_w, .pad_h = c.pad_h,
                                   .pad_w = c.pad_w, .dil_h = c.dil_h, .dil_w = c.dil_w};
      std::snprintf(line, sizeof line, "%-41s %-17s %7d  %7.3f  %-9s %6.3f  %7.3fx\n",
                    kernels::detail::conv_shape_string(cp).c_str(), c.pass.c_str(), c.threads, c.default_ms,
                    c.variant.c_str(), c.tuned_ms, c.default_ms / c.tuned_ms);
      s += line;
    }
  }
  return s;
}

}  // namespace nabla::cli
