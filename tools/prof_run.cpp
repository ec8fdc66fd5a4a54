// `nabla prof`: the runner. One mechanism for every family: a family turns
// its variant list and shapes into ProfCases (run, check, flops, bytes);
// run_cases() checks and times them the same way; the model mode
// (prof_model.cpp) turns trace events into the same rows.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "nabla/error.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/measure.hpp"
#include "nabla/runtime/threads.hpp"
#include "prof_internal.hpp"

namespace nabla::cli {
namespace prof_detail {
namespace {

// The level a working set of `bytes` fits in with `threads` threads.
std::string level_for(double bytes, int threads) {
  const CpuInfo& c = cpu_info();
  const double t = std::max(1, threads);
  if (bytes <= static_cast<double>(c.l1d_bytes) * t) return "L1";
  if (bytes <= static_cast<double>(c.l2_bytes) * t) return "L2";
  if (c.l3_bytes > 0 && bytes <= static_cast<double>(c.l3_bytes)) return "L3";
  return "DRAM";
}

}  // namespace

// ---- limits and the figures of a row ----------------------------------------------

Roof roof_for(const MachineLimits& l, int threads) {
  Roof r;
  r.threads = threads;
  if (threads <= 1) r.peak = l.peak_gflops_1;
  else if (threads >= l.threads) r.peak = l.peak_gflops_all;
  else r.peak = std::min(l.peak_gflops_1 * threads, l.peak_gflops_all > 0 ? l.peak_gflops_all : INFINITY);
  if (!(r.peak > 0)) r.peak = std::max(l.peak_gflops_1, l.peak_gflops_all);
  r.bw = threads <= 1 ? l.bandwidth_1 : l.bandwidth_all;
  if (r.bw.empty()) r.bw = threads <= 1 ? l.bandwidth_all : l.bandwidth_1;
  return r;
}

double roof_gbs(const BandwidthPoint& p) { return std::max(p.copy_gbs, p.triad_gbs); }

void fill_figures(ProfRow& row, const Roof& roof) {
  row.intensity = row.bytes > 0 ? row.flops / row.bytes : 0;
  row.bw_level = level_for(row.bytes, roof.threads);
  if (!row.ok || row.seconds <= 0) return;
  row.gflops = row.flops / row.seconds * 1e-9;
  row.gbs = row.bytes / row.seconds * 1e-9;
  row.peak_pct = roof.peak > 0 ? 100 * row.gflops / roof.peak : 0;
  const BandwidthPoint* p = nullptr;
  for (const auto& b : roof.bw)
    if (b.level == row.bw_level) p = &b;
  if (!p && !roof.bw.empty()) p = &roof.bw.back();
  row.bw_pct = p && roof_gbs(*p) > 0 ? 100 * row.gbs / roof_gbs(*p) : 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace prof_detail

namespace {

using namespace prof_detail;

// Checks each case once (a wrong one is never timed), then times it: a
// warm-up run, then runs until min_time has passed (3 to 1000 of them).
std::vector<ProfRow> run_cases(std::vector<ProfCase>& cases, const Roof& roof, double min_time) {
  std::vector<ProfRow> rows;
  const Isa saved = active_isa();
  for (ProfCase& c : cases) {
    set_isa(c.isa);
    ProfRow row;
    row.pass = c.pass;
    row.variant = c.variant;
    row.shape = c.shape;
    row.flops = c.flops;
    row.bytes = c.bytes;
    std::string err;
    try {
      if (c.prepare) c.prepare();
      c.run();
      err = c.check();
    } catch (const std::exception& e) {
      err = std::string("threw: ") + e.what();
    }
    if (!err.empty()) {
      row.ok = false;
      row.error = err;
    } else {
      c.run();  // warm-up
      std::vector<double> t;
      const double start = now();
      while (t.size() < 3 || (now() - start < min_time && t.size() < 1000)) {
        const double t0 = now();
        c.run();
        t.push_back(now() - t0);
      }
      row.seconds = median(t);
      row.best_seconds = *std::min_element(t.begin(), t.end());
    }
    fill_figures(row, roof);
    rows.push_back(std::move(row));
  }
  set_isa(saved);
  return rows;
}

std::vector<Isa> isas_for(const std::string& which) {
  if (which.empty()) return {active_isa()};
  if (which == "all") {
    std::vector<Isa> out;
    for (int i = static_cast<int>(cpu_info().best_isa); i >= 0; --i) out.push_back(static_cast<Isa>(i));
    return out;
  }
  const Isa isa = parse_isa(which);
  if (static_cast<int>(isa) > static_cast<int>(cpu_info().best_isa))
    throw Error(std::string("prof: this CPU cannot run ") + isa_name(isa) + " (best: " +
                isa_name(cpu_info().best_isa) + ")");
  return {isa};
}

}  // namespace

ProfReport profile(const ProfOptions& o) {
  if (o.family.empty() == o.model.empty())
    throw Error(o.model.empty() ? "prof: name a family (gemm, conv, eltwise) or give --model SPEC"
                                : "prof: give a family or --model, not both");
  if (o.threads < 0) throw Error("prof: --threads must be >= 0, got " + std::to_string(o.threads));
  if (!(o.min_time >= 0)) throw Error("prof: the minimum time must be >= 0");
  ProfReport r;
  r.mode = o.model.empty() ? "family" : "model";
  r.family = o.family;
  const std::vector<Isa> isas = isas_for(o.isa);
  r.isa = isas.front();
  std::vector<ProfCase> cases;
  if (r.mode == "family") cases = prof_cases(o.family, o.shapes, isas);  // bad shapes fail before anything runs

  const int saved_threads = num_threads();
  if (o.threads > 0) set_num_threads(o.threads);
  const Isa saved_isa = active_isa();
  struct Restore {
    int threads;
    Isa isa;
    ~Restore() {
      set_num_threads(threads);
      set_isa(isa);
    }
  } restore{saved_threads, saved_isa};
  r.threads = num_threads();
  set_isa(r.isa);

  if (o.limits) {
    r.limits = *o.limits;
    r.limits_source = "given";
  } else {
    const ProfileStatus st = profile_status(r.isa);
    if (st.profile) {
      r.limits = st.profile->limits;
      r.limits_source = "profile " + st.path;
    } else {
      const double t0 = now();
      r.limits = measure_limits(r.isa, r.threads, 1.5);
      r.limits_source = "measured now in " + fmt("%.1f", now() - t0) + " s; no profile: " + st.message;
    }
  }
  const Roof roof = roof_for(r.limits, r.threads);
  r.peak_gflops = roof.peak;

  if (r.mode == "family") {
    if (o.edit_cases) o.edit_cases(cases);
    r.rows = run_cases(cases, roof, o.min_time);
  } else {
    profile_model(o, r, roof);
  }
  return r;
}

}  // namespace nabla::cli
