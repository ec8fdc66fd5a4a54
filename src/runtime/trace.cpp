// Kernel-call tracing (see nabla/runtime/trace.hpp).
#include "nabla/runtime/trace.hpp"

namespace nabla::trace {
namespace detail {

std::atomic<Sink*> g_sink{nullptr};

namespace {
// Nesting depth over all threads: a GEMM run by a convolution's worker
// thread is inside the convolution's scope.
std::atomic<int> g_depth{0};
struct Context {
  int64_t layer = -1;
  std::string name;
  Pass pass = Pass::Forward;
};
thread_local Context tl_context;
}  // namespace

void open_layer(int64_t index, std::string name, Pass pass, int64_t& saved_index, std::string& saved_name,
                Pass& saved_pass) {
  Context& c = tl_context;
  saved_index = c.layer;
  saved_name = std::move(c.name);
  saved_pass = c.pass;
  c.layer = index;
  c.name = std::move(name);
  c.pass = pass;
}

void close_layer(int64_t index, std::string&& name, Pass pass) {
  Context& c = tl_context;
  c.layer = index;
  c.name = std::move(name);
  c.pass = pass;
}

Pass set_pass(Pass pass) {
  const Pass old = tl_context.pass;
  tl_context.pass = pass;
  return old;
}

bool open_kernel() { return g_depth.fetch_add(1, std::memory_order_acq_rel) == 0; }

void close_kernel(bool outermost, bool recorded, Call&& call, double seconds) {
  g_depth.fetch_sub(1, std::memory_order_acq_rel);
  if (!recorded) return;
  Sink* s = g_sink.load(std::memory_order_acquire);
  if (!s) return;
  const Context& c = tl_context;
  s->record(Event{c.layer, c.name, c.pass, std::move(call), seconds, !outermost});
}

}  // namespace detail

const char* pass_name(Pass p) {
  switch (p) {
    case Pass::Forward: return "forward";
    case Pass::BackwardData: return "backward-data";
    case Pass::BackwardWeights: return "backward-weights";
    case Pass::Loss: return "loss";
    case Pass::Optimiser: return "optimiser";
  }
  return "?";
}

void set_sink(Sink* sink) { detail::g_sink.store(sink, std::memory_order_release); }

}  // namespace nabla::trace
