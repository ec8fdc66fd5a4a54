#pragma once
/// \file gemm_config.hpp  The GEMM configuration in use, per ISA.
///
/// Defaults are derived from the cache sizes hwloc reports (see
/// default_gemm_config() in src/kernels/gemm/config.cpp for the rationale);
/// the tuning profile of this CPU (<nabla/runtime/profile.hpp>) replaces
/// them when one matches; set_gemm_config() overrides both.
#include "nabla/runtime/config.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla {

/// The defaults for an ISA on this CPU.
GemmConfig default_gemm_config(Isa isa);
/// The configuration in use for an ISA: set_gemm_config()'s if called, else
/// the tuning profile's for this CPU (when its micro-tile is compiled; if
/// not, the profile is ignored with one warning and the reason goes to
/// profile_status()), else the defaults.
GemmConfig gemm_config(Isa isa);
/// Throws nabla::Error if cfg is invalid for the ISA (check_gemm_blocking,
/// and the micro-tile must be a compiled variant of the ISA).
void validate_gemm_config(Isa isa, const GemmConfig& cfg);
/// Overrides the configuration for an ISA; throws nabla::Error if invalid.
void set_gemm_config(Isa isa, const GemmConfig& cfg);
/// Drops every override and forgets the loaded profiles: the next
/// gemm_config() looks the profile up again (NABLA_PROFILE is re-read).
void reset_gemm_config();

}  // namespace nabla
