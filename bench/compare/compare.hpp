#pragma once
// Internal to nabla_compare (bench/compare/*.cpp; what it does: main.cpp):
// the peers, the cases (cases.cpp), the timing harness and its statistics
// (timing.cpp), and the results with their outputs (results.cpp).
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifdef NABLA_HAVE_TORCH
#include "compare/torch_peer.hpp"  // libtorch as a peer (no libtorch header in it)
#endif

namespace nabla_compare {

constexpr double kTolerance = 1e-4;

// ---- peers ----------------------------------------------------------------

enum class Peer { OpenBlas, OneDnn, Torch };
constexpr Peer kAllPeers[] = {Peer::OpenBlas, Peer::OneDnn, Peer::Torch};

const char* peer_name(Peer p);
bool peer_built(Peer p);
std::string peer_version(Peer p);

// ---- statistics (timing.cpp) -------------------------------------------------

struct Times {
  double median = NAN, q1 = NAN, q3 = NAN, min = NAN, max = NAN;  // µs per call
  int samples = 0;
  int64_t calls = 0;  // per sample
};

Times summarise(const std::vector<double>& us, int64_t calls);

// ---- cases ------------------------------------------------------------------

/// One side of a comparison: nabla or a peer.
struct Side {
  std::function<void()> before_sample;  // untimed: weights back, thread count…
  std::function<void()> call;           // timed
};

/// A peer's norm-wise relative error against nabla, and a note on how it
/// was obtained (empty when plain).
struct CheckResult {
  double error;
  std::string note;
};

/// A case set up for one thread count: nabla and the peers that are built.
struct Instance {
  Side nabla;
  std::map<Peer, Side> peers;
  /// The peer's norm-wise relative error against nabla (runs both once).
  std::function<CheckResult(Peer)> check;
};

enum class Kind { Train, Infer, Conv, Gemm };
const char* kind_name(Kind k);

struct Case {
  std::string name;
  Kind kind;
  std::vector<Peer> peers;  // the peers this case compares with (built or not)
  std::function<std::unique_ptr<Instance>(int threads)> make;
};

/// Every case, in the order they run (cases.cpp).
std::vector<Case> all_cases();

// ---- options (main.cpp) -------------------------------------------------------

struct Options {
  std::vector<int> threads = {1, 2};
  std::string filter;
  int reps = 15;
  double sample_ms = 10;
  std::string json, plot;
  bool markdown = false, check_only = false, list = false;
  std::vector<Peer> peers = {Peer::OpenBlas, Peer::OneDnn, Peer::Torch};  // --peers
  std::vector<double> load_start;
  std::vector<std::string> from_json;  // --from-json: results to print instead of running
};

// ---- results ----------------------------------------------------------------

struct Result {
  std::string case_name;
  Kind kind = Kind::Train;
  int threads = 1;
  Peer peer = Peer::Torch;
  std::string status;  // ok, mismatch, not built, error, checked
  double check_error = NAN;
  std::string message;
  Times nabla, peer_time;
  double ratio = NAN;
};

// ---- the timing harness (timing.cpp) -------------------------------------------

/// Samples whose settle() wait ran out (printed at the end).
extern int settle_timeouts;

/// One case at one thread count: a row per peer of the case that o.peers
/// names; checks each built peer against nabla, then times nabla and the
/// peers that agree, interleaved (the tallies count the checks).
std::vector<Result> run_case(const Case& c, int threads, const Options& o, std::map<Peer, int>& checks_passed,
                             std::map<Peer, int>& checks_failed);

// ---- output (results.cpp) --------------------------------------------------------

void print_row(const Result& r);
void print_markdown(const std::vector<Result>& results);
std::vector<double> load_average();
std::string cpu_model();
void write_json(const std::string& path, const std::vector<Result>& results, const Options& o,
                const std::string& command);
/// The ratios as bars on a log scale (--plot).
void write_svg(const std::string& path, const std::vector<Result>& results);
/// --from-json: prints (and writes what o asks for) the saved results, in
/// case order, filtered; the exit status.
int print_saved(const Options& o, const std::string& command);

}  // namespace nabla_compare
