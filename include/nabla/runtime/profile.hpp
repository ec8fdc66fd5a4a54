#pragma once
/// \file profile.hpp  The tuning profile: what `nabla tune` measured on this
/// CPU (FMA peak, bandwidths) and the GEMM configuration it found fastest.
///
/// A profile is a JSON file keyed by the CPU (vendor, model, ISA, cores and
/// cache sizes). gemm_config() loads the matching one the first time an ISA's
/// configuration is needed:
/// - `NABLA_PROFILE=off`: no profile, the cache-derived defaults;
/// - `NABLA_PROFILE=FILE`: that file;
/// - otherwise `$XDG_CACHE_HOME/nabla/` (or `~/.cache/nabla/`), the file
///   default_profile_path() names for the ISA, if it exists.
/// A file for another CPU or ISA, a corrupt or truncated one, or one with
/// out-of-range values is ignored with a one-line warning on stderr (and in
/// profile_status()): never an exception, a crash or a wrong result.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/runtime/config.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla {

/// Copy and triad bandwidth over buffers of one size.
struct BandwidthPoint {
  std::string level;     ///< "L1", "L2", "L3" or "DRAM": where the buffers fit
  int64_t bytes = 0;     ///< total bytes of the arrays (copy: 2, triad: 3 arrays of bytes/3)
  double copy_gbs = 0;   ///< GB/s (1e9 bytes), bytes read + written
  double triad_gbs = 0;  ///< GB/s, a[i] = b[i] + s·c[i]
};

/// The machine's measured limits for one ISA.
struct MachineLimits {
  int threads = 1;             ///< threads of the "all" figures
  double peak_gflops_1 = 0;    ///< FP32 FMA peak of one thread
  double peak_gflops_all = 0;  ///< all threads at once
  std::vector<BandwidthPoint> bandwidth_1, bandwidth_all;  ///< L1..DRAM, one / all threads
};

/// One shape the tuner measured, with the default and the chosen configuration.
struct TunedShape {
  int64_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false;
  int threads = 1;
  double default_gflops = 0, tuned_gflops = 0;
};

/// The convolution variant the tuner chose for one layer shape and pass
/// (`nabla tune --model`): conv2d_forward, conv2d_backward_data and
/// conv2d_backward_weights run it for exactly this shape, batch included,
/// instead of the fixed rule's choice. A variant that is not compiled for
/// the ISA, or does not apply to the shape, is ignored.
struct ConvChoice {
  int64_t n = 0, c_in = 0, h = 0, w = 0, c_out = 0, kh = 0, kw = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  std::string pass;     ///< "forward", "backward-data" or "backward-weights"
  std::string variant;  ///< the variant's tag ("im2col", "implicit", "winograd", ...)
  int threads = 1;      ///< the thread count it was timed at
  double default_ms = 0, tuned_ms = 0;  ///< the fixed rule's variant and the chosen one, median
};

/// A tuning profile.
struct Profile {
  std::string key;         ///< profile_key(isa) of the CPU it was measured on
  Isa isa = Isa::Generic;  ///< the ISA the figures and the configuration are for
  GemmConfig gemm;         ///< the configuration to use
  MachineLimits limits;
  double noise = 0;        ///< relative run-to-run noise the tuner measured
  std::string created;     ///< UTC time, ISO 8601
  std::vector<TunedShape> shapes;  ///< what the tuner measured (information only)
  std::vector<ConvChoice> conv;    ///< convolution variants chosen per shape and pass
};

/// The key of this CPU for an ISA: vendor, model, ISA, cores, cache sizes.
std::string profile_key(Isa isa);
/// Where the profile of this CPU and ISA lives by default:
/// `$XDG_CACHE_HOME/nabla/profile-<isa>-<hash of the key>.json` (or under
/// `~/.cache`). Empty when neither XDG_CACHE_HOME nor HOME is set.
std::string default_profile_path(Isa isa);

/// JSON text of a profile.
std::string profile_to_json(const Profile& p);
/// Parses and validates a profile; throws nabla::Error naming the first
/// problem (not JSON, missing or mistyped field, a value out of range, ...).
/// Does not check the key, nor whether the micro-tile is compiled (the GEMM
/// family does when it adopts the profile: gemm_config()).
Profile profile_from_json(std::string_view text);
/// Reads and validates a profile file; throws nabla::Error naming the file.
Profile load_profile(const std::string& path);
/// Writes a profile atomically, creating the directory; throws nabla::Error.
void save_profile(const Profile& p, const std::string& path);

/// What happened to the profile of an ISA at start-up.
struct ProfileStatus {
  std::string path;                ///< the file looked at (empty: none)
  std::optional<Profile> profile;  ///< set when it was loaded and is in use
  std::string message;             ///< "disabled by NABLA_PROFILE=off", "no file", or why it was ignored
};
/// The status for an ISA (loads the profile if not yet done).
ProfileStatus profile_status(Isa isa);

namespace detail {
/// Marks the profile of an ISA as not used, with the reason (the GEMM
/// family calls it when the profile's micro-tile is not compiled here).
void reject_profile(Isa isa, const std::string& why);
/// Forgets the looked-up profiles: the next profile_status() looks again
/// (reset_gemm_config calls it).
void reset_profile_status();
/// Counts reset_profile_status() calls: a cache built from a profile is
/// stale once this has moved on.
uint64_t profile_generation();
}  // namespace detail

}  // namespace nabla
