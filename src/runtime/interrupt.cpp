// The interrupt flag (runtime/interrupt.hpp).
#include "nabla/runtime/interrupt.hpp"

#include <atomic>

namespace nabla {
namespace {
// Lock-free, so storing to it from a signal handler is safe.
std::atomic<bool> g_interrupt{false};
static_assert(std::atomic<bool>::is_always_lock_free);
}  // namespace

void request_interrupt() noexcept { g_interrupt.store(true, std::memory_order_relaxed); }
bool interrupt_requested() noexcept { return g_interrupt.load(std::memory_order_relaxed); }
void clear_interrupt() noexcept { g_interrupt.store(false, std::memory_order_relaxed); }

void check_interrupt(const char* where) {
  if (g_interrupt.load(std::memory_order_relaxed)) throw Interrupted(where);
}

}  // namespace nabla
