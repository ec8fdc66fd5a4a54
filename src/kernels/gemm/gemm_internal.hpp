#pragma once
// Internal interface between the GEMM driver (gemm.cpp, generic flags) and the
// per-ISA translation units (gemm_<isa>.cpp, each compiled with only its own
// ISA flags). Nothing here includes xsimd, so the driver stays portable.
#include <cstdint>
#include <span>
#include <string>

#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// One validated GEMM call.
struct GemmArgs {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.f;
  float* c = nullptr;
  int64_t ldc = 0;
  Epilogue ep;
  /// Indirect B (null: none): row r of B as stored (row p of op(B), or
  /// column j when transposed) starts at b + b_rows[r] and ldb is not used.
  /// A convolution's column matrix is this over its zero-padded image
  /// (conv.cpp: the implicit im2col), so it is never written; full
  /// NR-column panels of an untransposed B are read in place, the rest is
  /// packed as usual.
  const int64_t* b_rows = nullptr;
  /// Indirect A (untransposed A only; null: none): row i of A starts at
  /// a + a_rows[i], lda is not used, B is packed. Full MR-row tiles read
  /// it in place through MR row pointers.
  const int64_t* a_rows = nullptr;
};

/// Cache blocking of one call (derived from the GemmConfig and the shape).
struct GemmBlocking {
  int64_t mc = 0;      ///< rows of A per packed block, multiple of MR
  int64_t kc = 0;      ///< depth per block: k is cut into equal blocks of at most kc
  int64_t nc = 0;      ///< columns of B per packed block, multiple of NR
  bool pack_a = true;  ///< false: full MR-row tiles read A in place
  bool pack_b = true;  ///< false: full NR-column panels of an untransposed B are read in place
};

/// Computes C[m0:m1, n0:n1] completely (all of k, epilogue included).
/// a_buf holds mc·kc floats and b_buf kc·nc floats, both 64-byte aligned and
/// owned by the calling thread. m0 is a multiple of MR and n0 of NR.
using GemmChunkFn = void (*)(const GemmArgs&, const GemmBlocking&, int64_t m0, int64_t m1,
                             int64_t n0, int64_t n1, float* a_buf, float* b_buf);

/// One compiled micro-kernel variant (an MR×NR tile for one ISA).
struct GemmVariant {
  const char* name;  ///< e.g. "f32_gemm_14x32_avx512"
  Isa isa;
  int mr, nr;
  GemmChunkFn chunk;
};

// Per-ISA variant lists, default first. Defined in gemm_<isa>.cpp.
std::span<const GemmVariant> gemm_variants_avx512();
std::span<const GemmVariant> gemm_variants_avx2();
std::span<const GemmVariant> gemm_variants_sse2();

/// The variants compiled for an ISA (default first).
std::span<const GemmVariant> gemm_variants(Isa isa);

/// The variant the driver uses for a shape when the configuration leaves the
/// tile to it: the one with the least modelled time (padding waste plus a
/// per-tile overhead), earlier variants winning ties. a_in_place: A is read
/// without packing, where tiles of more than 8 rows run short of registers.
const GemmVariant& select_variant(std::span<const GemmVariant> variants, int64_t m, int64_t n, int64_t k,
                                  bool a_in_place);

/// Whether a call packs A (false: full row tiles read it in place).
bool gemm_packs_a(const GemmConfig& cfg, const GemmArgs& g);

/// How a call reads A: the packing variants every tile runs with. A packing
/// is forced through GemmConfig::small_flops (0: always pack A; kNever:
/// full row tiles read A in place, where legal: an lda that is a multiple of
/// 1024 floats still packs, see gemm_packs_a). Adding one is one line in
/// gemm.cpp; the tests and the profiler iterate gemm_packings().
struct GemmPacking {
  const char* name;    ///< "" (A packed, the plain name) or e.g. "inplace_a"
  double small_flops;  ///< the GemmConfig::small_flops that forces it
};
std::span<const GemmPacking> gemm_packings();

/// A variant's name in the grammar of STYLE.md,
/// f32_gemm[_bias][_<act>|_d<act>]_<MR>x<NR>[_<packing>]_<isa>:
/// "f32_gemm_6x64_avx512", "f32_gemm_bias_relu_8x32_inplace_a_avx512".
std::string gemm_variant_name(const GemmVariant& v, const GemmPacking& packing, const Epilogue& ep = {});
/// The same for how a call runs: packing "" when pack_a, else the in-place one.
std::string gemm_variant_name(const GemmVariant& v, bool pack_a, const Epilogue& ep = {});

/// Runs a validated call with a given variant and configuration (tests and
/// the profiler use it to reach every variant; gemm() uses the default).
void gemm_run(const GemmVariant& v, const GemmConfig& cfg, const GemmArgs& args);

/// What gemm() does after validating: picks the active ISA's variant for
/// the call and runs it (traced). For callers inside the library that
/// build GemmArgs themselves (an indirect B); arguments must be valid.
void gemm_validated(GemmArgs args);

}  // namespace nabla::kernels::detail
