#pragma once
/// \file interrupt.hpp  Stopping a long call from outside (Ctrl-C).
///
/// request_interrupt() sets a process-wide flag; it only stores to a lock-free
/// atomic, so a signal handler may call it. Long-running calls look at the
/// flag at safe points — Sequential::forward and backward before each layer,
/// the dataset readers between records — and throw nabla::Interrupted there,
/// leaving every object usable: the interrupted forward's outputs and the
/// interrupted backward's gradients are incomplete (zero_grad() before the
/// next backward), nothing else changed. The flag stays set until
/// clear_interrupt(). The Python module requests an interrupt from its SIGINT
/// handler and turns Interrupted into KeyboardInterrupt; a C++ program that
/// wants the same installs its own handler.
#include <string>

#include "nabla/error.hpp"

namespace nabla {

/// Thrown at a safe point after request_interrupt(); the message names the call.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& where) : Error(where + ": interrupted") {}
};

/// Asks running and future calls to stop at their next safe point
/// (async-signal-safe).
void request_interrupt() noexcept;
/// Whether an interrupt was requested and not cleared.
bool interrupt_requested() noexcept;
/// Forgets a requested interrupt.
void clear_interrupt() noexcept;
/// Throws Interrupted(where) when an interrupt was requested (the flag stays set).
void check_interrupt(const char* where);

}  // namespace nabla
