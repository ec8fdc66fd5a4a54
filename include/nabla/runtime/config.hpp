#pragma once
/// \file config.hpp  The GEMM configuration record: micro-tile and cache
/// blocking, as a tuning profile stores it.
///
/// The runtime only carries it (profiles load and save it); the GEMM family
/// owns what it means — the defaults derived from the cache sizes, which
/// micro-tiles exist, the configuration in use: see
/// <nabla/kernels/gemm_config.hpp>.
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

/// Throws nabla::Error if the blocking or the thresholds are invalid
/// whatever the ISA (non-positive block, mc not a multiple of mr, negative
/// threshold). Whether the tile is compiled is the GEMM family's check
/// (validate_gemm_config).
void check_gemm_blocking(const GemmConfig& cfg);

/// Human-readable one-line summary ("tile per shape (default 6x64) mc=336 kc=384 nc=5440").
std::string to_string(const GemmConfig& cfg);

}  // namespace nabla
