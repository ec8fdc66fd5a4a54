#pragma once
// A Google Benchmark reporter that prints as usual and keeps, per case, the
// median run (with --benchmark_repetitions) or the only run, so a program
// can print a comparison summary at the end (bench_gemm, bench_conv).
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace nabla_bench {

class MedianReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      const bool agg = r.run_type == Run::RT_Aggregate;
      if (agg && r.aggregate_name != "median") continue;
      const std::string name = r.run_name.function_name;
      auto it = runs_.find(name);
      if (!agg && it != runs_.end() && it->second.run_type == Run::RT_Aggregate) continue;
      runs_.insert_or_assign(name, r);
    }
  }

 protected:
  /// The kept run of a case, or null.
  const Run* find(const std::string& name) const {
    auto it = runs_.find(name);
    return it == runs_.end() ? nullptr : &it->second;
  }
  /// A counter of a case (NaN when absent).
  double counter(const std::string& name, const std::string& key) const {
    const Run* r = find(name);
    if (!r) return std::nan("");
    auto it = r->counters.find(key);
    return it == r->counters.end() ? std::nan("") : it->second.value;
  }
  /// Real time per iteration in the case's unit (NaN when absent).
  double real_time(const std::string& name) const {
    const Run* r = find(name);
    return r ? r->GetAdjustedRealTime() : std::nan("");
  }

 private:
  std::map<std::string, Run> runs_;
};

}  // namespace nabla_bench
