#pragma once
/// \file config.hpp  The GEMM configuration: micro-tile and cache blocking.
///
/// Defaults are derived from the cache sizes hwloc reports (see
/// default_gemm_config() in src/runtime/config.cpp for the rationale); a
/// tuning profile may override them with set_gemm_config().
#include <cstdint>
#include <string>

#include "nabla/runtime/cpu.hpp"

namespace nabla {

struct GemmConfig {
  /// true: the driver picks the micro-tile per call from the shape (the least
  /// padded work); false: always mr×nr.
  bool auto_tile = true;
  int mr = 0, nr = 0;   ///< micro-tile; must be a compiled variant of the ISA
  int64_t mc = 0;       ///< rows of A packed per block (multiple of mr)
  int64_t kc = 0;       ///< depth of a packed panel
  int64_t nc = 0;       ///< columns of B packed per block (multiple of nr)
  /// Below this many flops (2·m·n·k) A is not packed: the micro-kernel reads
  /// it in place (packing would cost more than it saves).
  double small_flops = 0;
  /// Below this many flops the GEMM stays on the calling thread.
  double parallel_flops = 0;
  /// Minimum flops per parallel task.
  double task_flops = 0;

  bool operator==(const GemmConfig&) const = default;
};

/// The defaults for an ISA on this CPU.
GemmConfig default_gemm_config(Isa isa);
/// The configuration in use for an ISA: set_gemm_config()'s if called, else
/// the tuning profile's for this CPU (runtime/profile.hpp), else the defaults.
GemmConfig gemm_config(Isa isa);
/// Throws nabla::Error if cfg is invalid for the ISA (non-positive block, mc
/// not a multiple of mr, tile not compiled, negative threshold, ...).
void validate_gemm_config(Isa isa, const GemmConfig& cfg);
/// Overrides the configuration for an ISA; throws nabla::Error if invalid.
void set_gemm_config(Isa isa, const GemmConfig& cfg);
/// Drops every override and forgets the loaded profiles: the next
/// gemm_config() looks the profile up again (NABLA_PROFILE is re-read).
void reset_gemm_config();

/// Human-readable one-line summary ("tile per shape (default 6x64) mc=336 kc=384 nc=5440").
std::string to_string(const GemmConfig& cfg);

}  // namespace nabla
