// nabla_compare: nabla against the frameworks, in one run, one command.
//
//     build/release/bench/nabla_compare --threads 1,2 --markdown --json compare.json --plot compare.svg
//
// For every case, nabla and each peer found at build time run interleaved
// (A B A B …, after a warm-up): every sample times a fixed number of calls
// (about --sample-ms worth, default 10 ms, after an untimed ~2 ms pre-roll),
// the samples alternate between the sides (--reps rounds, default 15, the
// order reversed every other round), and each side reports the median time
// per call and its spread (interquartile range). ratio = peer / nabla (> 1:
// nabla is faster). --peers picks peers among those built.
//
// Cases (--list prints them; --filter REGEX picks by name):
//   train/<net>/b<batch>  a whole training step — zero_grad, forward, loss,
//                         backward, SGD (lr 0.01, momentum 0.9) — of the seven
//                         architectures of the paper at the CLI presets' sizes
//                         (logreg … cnn-softmax), plus lenet and cnn, on
//                         784 / 1×28×28 inputs, batch 1, 64, 256; peer:
//                         libtorch (torch::nn::Sequential, the same initial
//                         weights, the same loss).
//   infer/<net>/b<batch>  forward alone, lenet and cnn (libtorch under
//                         c10::InferenceMode).
//   conv/<layer>/<pass>   the five layers of bench_conv: fwd (bias + ReLU),
//                         bwd_data, bwd_weights (+ bias gradient), train (the
//                         passes a training step runs: fwd + bwd_weights, +
//                         bwd_data except for a first layer); peers: oneDNN's
//                         primitives (their own formats, as in bench_conv),
//                         libtorch (conv2d + relu_, at::convolution_backward).
//   gemm/<shape>          the shapes of bench_gemm; peers: OpenBLAS
//                         cblas_sgemm, oneDNN dnnl_sgemm.
//
// Correctness in the same run (benchdnn's --mode=CP): before timing, each
// peer computes the same thing as nabla from the same inputs — for a training
// step, one forward + loss + backward from the same weights and batch — and
// the norm-wise relative error ‖peer − nabla‖ / max(‖peer‖, ‖nabla‖) of every
// output (the loss, each parameter gradient; the conv and GEMM results) must
// be ≤ 1e-4. A peer that disagrees is reported as a mismatch, without a time.
// --check-only runs these checks and no timing.
//
// Training data: a pool of 8 random batches (inputs U(0, 1), random labels),
// the same for both sides, used in turn (a fixed batch trained on over and
// over drives the gradients into denormals); before every sample both
// sides get their initial weights back and a fresh optimiser (untimed), so
// each sample times the same steps.
//
// Threads: --threads 1,2 runs every case at each count, setting each side's
// own control: nabla::set_num_threads, omp_set_num_threads (oneDNN),
// openblas_set_num_threads (OpenBLAS), torch::set_num_threads with one
// inter-op thread. libtorch's OpenBLAS is not under torch::set_num_threads:
// the program re-executes itself with OPENBLAS_NUM_THREADS=1 (and without
// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which make OpenBLAS run its AVX2
// kernel at half speed here) before any library initialises; the OpenBLAS
// peer then raises its own count per sample. Before each sample the program
// waits until no other thread of the process is running, so one side never
// runs against the other's spinning idle workers on a 2-core machine
// (OpenBLAS's spin is also cut from up to ~1 s to ~10 ms with
// OPENBLAS_THREAD_TIMEOUT=24 in the same re-execution; see peer_env.hpp).
// Every runtime is set to the case's thread count before the case is built
// (oneDNN fixes a primitive's thread partition when it creates it).
//
// Memory: libtorch allocates its activations and gradients every step, and
// glibc serves blocks above its mmap threshold (dynamic, 128 KiB to 32 MiB,
// raised only when such a block is freed) with mmap/munmap, so whether a
// step page-faults its tensors in depended on the allocation history: the
// same libtorch step ran 20–26 or 6–7 ms (cnn-softmax) and 130–160 or
// 45–60 ms (resnet) from run to run, ±50% within one. main() therefore
// sets mallopt's mmap threshold to its maximum (32 MiB) and the trim
// threshold to 1 GiB first: the blocks come from the heap and stay mapped,
// libtorch's times are stable (±1–3%) and its fast ones. nabla allocates nothing per step; its times do not move.
//
// --json FILE writes this schema ("nabla-compare/1"):
//   { "schema": "nabla-compare/1", "command": "...", "date": "UTC ISO 8601",
//     "cpu": "...", "load_average": [1, 5, 15 min] at the start,
//     "load_average_end": [...], "reps": N, "sample_ms": S,
//     "peers": { "<peer>": { "built": bool, "version": "..." } },
//     "results": [ { "case": "train/lenet/b64", "kind": "train|infer|conv|gemm",
//                    "threads": 1, "peer": "openblas|onednn|libtorch",
//                    "status": "ok|mismatch|not built|error|checked",
//                    "check_error": 1.2e-7,          // absent when not built
//                    "message": "...",               // why (mismatch, error), or how the
//                                                    // check passed (a retried batch)
//                    "nabla": TIMES, "peer_time": TIMES,   // status "ok" only
//                    "ratio": peer median / nabla median } ] }   // status "ok" only
//   TIMES = { "median_us", "q1_us", "q3_us", "min_us", "max_us": per call,
//             "samples": N, "calls_per_sample": K }
// --markdown prints one table per kind for bench/RESULTS.md; --plot FILE.svg
// draws the ratios as bars on a log scale with a line at 1×. --from-json
// A.json,B.json prints (and plots, and with --json merges) saved results,
// in case order and filtered by --filter, instead of running: a long
// comparison on a shared machine can be run in pieces (--filter), each when
// the machine is quiet, and shown as one.
//
// Exit status: 0; 1 when a check mismatched or a case failed (or a file
// could not be written); 2 for a bad option. NABLA_COMPARE_DEBUG=1 prints
// each calibration and sample on stderr.

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "compare/compare.hpp"
#include "peer_env.hpp"

using namespace nabla_compare;

namespace {

// ---- options ----------------------------------------------------------------

const char* kUsage =
    "usage: nabla_compare [--threads 1,2] [--filter REGEX] [--peers openblas,onednn,libtorch] [--reps N]\n"
    "                     [--sample-ms MS]"
    " [--json FILE] [--markdown] [--plot FILE.svg] [--check-only] [--list]\n"
    "                     [--from-json A.json,B.json (print/plot saved results, run nothing)]\n"
    "Times nabla against OpenBLAS, oneDNN and libtorch (those built in), interleaved, after checking\n"
    "that each peer computes the same results (relative error <= 1e-4). See bench/compare.cpp.\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "nabla_compare: %s\n%s", what.c_str(), kUsage);
  std::exit(2);
}

long parse_int(const std::string& opt, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi)
    usage_error(opt + " '" + v + "': expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return x;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--threads") {
      o.threads.clear();
      std::stringstream ss(value());
      std::string t;
      while (std::getline(ss, t, ',')) o.threads.push_back(static_cast<int>(parse_int("--threads", t, 1, 1024)));
      if (o.threads.empty()) usage_error("--threads: expected a list like 1,2");
    } else if (a == "--peers") {
      o.peers.clear();
      std::stringstream ss(value());
      std::string t;
      while (std::getline(ss, t, ',')) {
        bool known = false;
        for (Peer p : kAllPeers)
          if (t == peer_name(p)) o.peers.push_back(p), known = true;
        if (!known) usage_error("--peers: unknown peer '" + t + "' (openblas, onednn, libtorch)");
      }
    } else if (a == "--filter") {
      o.filter = value();
      try {
        std::regex re(o.filter);
      } catch (const std::regex_error& e) {
        usage_error("--filter '" + o.filter + "': not a regular expression (" + e.what() + ")");
      }
    } else if (a == "--reps") o.reps = static_cast<int>(parse_int("--reps", value(), 1, 100000));
    else if (a == "--sample-ms") o.sample_ms = static_cast<double>(parse_int("--sample-ms", value(), 1, 60000));
    else if (a == "--json") o.json = value();
    else if (a == "--from-json") {
      std::stringstream ss(value());
      std::string f;
      while (std::getline(ss, f, ',')) o.from_json.push_back(f);
    }
    else if (a == "--plot") o.plot = value();
    else if (a == "--markdown") o.markdown = true;
    else if (a == "--check-only") o.check_only = true;
    else if (a == "--list") o.list = true;
    else if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      std::exit(0);
    } else usage_error("unknown option '" + a + "'");
  }
  return o;
}

/// The run's first lines: the cases, the thread counts, the CPU, the load
/// (kept in o.load_start for the JSON) and the peers.
void print_header(Options& o, const std::vector<Case>& cases) {
  const auto load = o.load_start = load_average();
  std::printf("nabla_compare: %zu cases × threads {", cases.size());
  for (size_t i = 0; i < o.threads.size(); ++i) std::printf("%s%d", i ? "," : "", o.threads[i]);
  std::printf("}, %s; CPU %s; load average %.2f %.2f %.2f\n",
              o.check_only ? "checks only" : (std::to_string(o.reps) + " interleaved samples of ~" +
                                              std::to_string(static_cast<int>(o.sample_ms)) + " ms per side")
                                                 .c_str(),
              cpu_model().c_str(), load[0], load[1], load[2]);
  for (Peer p : kAllPeers)
    std::printf("  peer %-9s %s\n", peer_name(p),
                peer_built(p) ? ("built, " + peer_version(p)).c_str() : "not built");
  std::printf("\n%-44s %3s %-9s %16s %16s %7s   %s\n", "case", "thr", "peer", "nabla µs", "peer µs", "ratio",
              "check");
}

/// The checks' tallies per peer, the settle() waits that ran out, the load.
void print_summary(std::map<Peer, int>& checks_passed, std::map<Peer, int>& checks_failed) {
  std::printf("\n");
  for (Peer p : kAllPeers) {
    if (!peer_built(p)) continue;
    const int ok = checks_passed[p], bad = checks_failed[p];
    if (ok + bad == 0) continue;
    std::printf("checks %s: %s: %d passed, %d mismatched\n", bad ? "FAILED" : "passed", peer_name(p), ok, bad);
  }
  if (settle_timeouts > 0)
    std::printf("note: %d samples started with another thread of the process still running after 2 s\n",
                settle_timeouts);
  const auto load_end = load_average();
  std::printf("load average at the end: %.2f %.2f %.2f\n", load_end[0], load_end[1], load_end[2]);
}

}  // namespace

int main(int argc, char** argv) {
  // Before any library allocates (see "Memory" above).
  if (!mallopt(M_MMAP_THRESHOLD, 32 << 20) || !mallopt(M_TRIM_THRESHOLD, 1 << 30))
    std::fprintf(stderr, "nabla_compare: mallopt failed; libtorch's times may move between runs\n");
  Options o = parse(argc, argv);
  std::string command = "nabla_compare";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  if (!o.from_json.empty()) return print_saved(o, command);

  nabla_bench::reexec_with_peer_env(argv, "nabla_compare", true, 24);
  const std::regex re(o.filter);
  std::vector<Case> cases;
  for (Case& c : all_cases())
    if (o.filter.empty() || std::regex_search(c.name, re)) cases.push_back(std::move(c));
  if (o.list) {
    for (const Case& c : cases) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  if (cases.empty()) usage_error("--filter '" + o.filter + "' matches no case (see --list)");

  print_header(o, cases);
  std::vector<Result> results;
  std::map<std::string, int> counts;  // status -> rows
  std::map<Peer, int> checks_passed, checks_failed;
  for (const Case& c : cases) {
    for (int threads : o.threads) {
      for (Result& r : run_case(c, threads, o, checks_passed, checks_failed)) {
        print_row(r);
        ++counts[r.status];
        results.push_back(std::move(r));
      }
    }
  }
  print_summary(checks_passed, checks_failed);
  if (o.markdown) print_markdown(results);
  try {
    if (!o.json.empty()) write_json(o.json, results, o, command);
    if (!o.plot.empty()) write_svg(o.plot, results);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nabla_compare: %s\n", e.what());
    return 1;
  }
  return counts["mismatch"] + counts["error"] > 0 ? 1 : 0;
}
