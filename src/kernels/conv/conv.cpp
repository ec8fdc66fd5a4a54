// The convolution dispatcher: validates shapes and pointers, picks the
// variant (conv_select: the tuning profile's choice for the shape and pass,
// else the fixed rule), and runs each pass as one GEMM per image — several
// images per GEMM for maps under kWideCols positions — (the public gemm(),
// with its epilogues) split over images with oneTBB. Compiled with generic
// flags: nothing here touches SIMD.
//
// Threads and scratch: each image's column matrix lives in a per-thread
// buffer grown on demand and reused, so a steady-state call allocates
// nothing. The GEMM inside an image task may itself run in parallel; the
// task is isolated (tbb::this_task_arena::isolate) so that a thread waiting
// for that GEMM never starts another image on the same column buffer.
// Results are bitwise the same for any thread count: the forward and
// backward-data passes write disjoint images with a deterministic GEMM, and
// backward-weights sums its images in groups fixed by the batch size alone
// (conv2d_backward_weights below).
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string>
#include <vector>

#include "kernels/common/dispatch.hpp"
#include "kernels/common/names.hpp"
#include "kernels/common/parallel.hpp"
#include "kernels/conv/conv_internal.hpp"
#include "nabla/kernels/pool.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/profile.hpp"
#include "nabla/runtime/scratch.hpp"
#include "nabla/runtime/threads.hpp"
#include "nabla/runtime/trace.hpp"

namespace nabla::kernels {
namespace detail {

const ConvKernels& conv_kernels(Isa isa) {
  return for_isa(isa, conv_kernels_avx512, conv_kernels_avx2, conv_kernels_sse2);
}

namespace {
bool any_shape(const ConvShape&) { return true; }
bool pointwise(const ConvShape& s) { return s.is_pointwise(); }
bool one_channel(const ConvShape& s) {
  const ConvParams& p = s.params();
  return p.c_in == 1 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1;
}
// Where the pitch of the implicit column matrix (ImplicitLayout) wastes
// at most a quarter of the GEMM's columns: forward computes
// ceil((w + 2·pad_w) / stride_w) columns per output row of ow; a stride-1
// backward-data (dZ padded by dil_w·(kw − 1) − pad_w, which must not be
// negative) w + dil_w·(kw − 1) per input row of w (strided backward-data
// runs the GEMM and col2im). LeNet's 5×5 on 12×12 would waste half: im2col.
bool implicit(const ConvShape& s) {
  const ConvParams& p = s.params();
  const int64_t wq = (p.w + 2 * p.pad_w + p.stride_w - 1) / p.stride_w;
  if (4 * wq > 5 * s.ow()) return false;
  if (p.stride_h > 1 || p.stride_w > 1) return true;
  const int64_t span_h = p.dil_h * (p.kh - 1), span_w = p.dil_w * (p.kw - 1);
  return p.pad_h <= span_h && p.pad_w <= span_w && 4 * (p.w + span_w) <= 5 * p.w;
}
// The direct kernel with output channels in the vector applies without
// dilation at a horizontal stride of 1 or 2 (its blocks read a row's
// positions at displacements fixed at compile time); direct_wins says
// where it is taken.
bool direct_applies(const ConvShape& s) {
  const ConvParams& p = s.params();
  return p.stride_w <= 2 && p.dil_h == 1 && p.dil_w == 1;
}
// Where it wins (backward-data runs as im2col): the forward on maps of 32
// to 128 output positions (any number when strided) with at least 64 taps
// per output channel.
// `nabla prof conv`, batch 64, ms at 1 / 2 threads, directc against the
// rule before it (2026-12-04, Zen 5): LeNet's 6→16 5×5
// on 14×14 0.18 against im2col's 0.39 (ad-hoc driver, 1 thread); 6→16 5×5
// on 12×12 0.12 / 0.06 against 0.22 / 0.11; cnn-softmax's 16→32 5×5 on
// 12×12 0.78 / 0.35 against 0.95 / 0.46; resnet's 64→64 3×3 on 7×7 1.92 /
// 0.91 against 2.01 / 1.01. Where it does not: 128→128 on 4×4 (16
// positions; several images per GEMM) 2.69 / 1.26 against 2.32 / 1.18;
// 32→64 on 28×28 16.6 against Winograd's 11.5; 3→32 3×3 on 32×32 (27 taps)
// 1.82 against 1.20; 32→64 on 14×14 a tie with Winograd (3.76 / 1.80
// against 3.65 / 1.93), which also pools in its output there.
//
// Backward-weights (its own kernel for 3- and 5-wide kernels, else as
// im2col), on the same maps with 64 to 400 taps: 6→16 5×5 on 14×14 0.22 /
// 0.13 against im2col's 0.36 / 0.20; on 12×12 0.15 / 0.085 against 0.22 /
// 0.12; 16→32 5×5 on 12×12 0.70 / 0.37 against 0.78 / 0.43. Not with more
// taps: 64→64 3×3 on 7×7 1.83 / 0.96 against im2col's 1.67 / 1.01; 32→32
// 3×3 on 14×14 1.75 / 0.86 against Winograd's 1.53 / 0.85.
//
// Strided (stride 2, where implicit's GEMM on the phase-split image is the
// alternative), forward and backward-weights on any map of ≥ 32 positions,
// 1 / 2 threads, ms (2026-12-04 evening, quiet VM): conv4's 32→64 3×3 s2
// 28×28 forward 2.86 / 1.43 against implicit's 2.97 / 1.57, backward-
// weights 3.17 / 1.65 against 3.26 / 1.83; resnet's 32→64 on 14×14
// forward 0.74 / 0.39 against 0.94 / 0.51, backward-weights 0.92 / 0.50
// against 1.09 / 0.69. On 16 positions (64→128 on 7×7) a tie forward,
// backward-weights 1.36 / 0.80 against 1.16 / 0.67.
bool direct_wins(const ConvShape& s, ConvPass pass) {
  const ConvParams& p = s.params();
  const int64_t positions = s.oh() * s.ow(), taps = p.c_in * p.kh * p.kw;
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  if (positions < 32 || (!strided && positions > 128) || taps < 64) return false;
  if (pass == ConvPass::Forward) return true;
  return pass == ConvPass::BackwardWeights && directc_grads(p.kw) && taps <= 400;
}

// Winograd F(2×2, 3×3): a dense 3×3 kernel at stride 1, padded by at most
// 2 (backward-data pads dZ by 2 − pad).
bool winograd(const ConvShape& s) {
  const ConvParams& p = s.params();
  return p.kh == 3 && p.kw == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dil_h == 1 && p.dil_w == 1 &&
         p.pad_h <= 2 && p.pad_w <= 2;
}
// Where it wins, measured with `nabla prof conv` (Zen 5, batch 64, forward
// and backward-data ms at 1 / 2 threads, Winograd against implicit, or
// im2col where implicit does not apply; 2026-12-04 on a loaded VM):
// 32→64 at 14×14 2.77 / 1.35 against 3.07 / 1.57 (backward-data 3.12 /
// 1.48 against 3.61 / 1.70); 64→64 at 14×14 4.81 / 2.72 against 5.92 /
// 2.94; 32→64 at 28×28 wins by 20% (conv3 in nabla_compare). Where it does
// not: 16→16 at 28×28 2.20 / 0.90 against 1.67 / 0.82 (its 16 GEMMs of
// 16×16 are too thin to pay for the transforms). (32→32 on 14×14, 64→64
// on 7×7 and 128→128 on 4×4 lost here then: see the end.)
// Backward-weights (its 16 GEMMs are as deep as the tiles, so few channels
// do not thin them; 1 / 2 threads, ms, Winograd against implicit): 32→32 at
// 14×14 1.34 / 0.81 against 1.50 / 0.88; 16→16 at 28×28 1.76 / 1.02
// against 1.89 / 1.10; 32→64 at 28×28 8.86 / 4.89 against 10.96 / 6.33;
// 64→64 at 7×7 1.55 / 1.28 against im2col's 1.55 / 0.95.
// Backward-data on 7×7 with 64 channels each way (resnet), since the
// Winograd kernels' later tuning: 1.45–1.61 / 0.88–1.19 against im2col's
// 2.06–2.08 / 1.07–1.22 (two runs of `nabla prof conv`, 2026-12-04
// afternoon); its forward there is directc's (direct_wins).
//
// Since the weight transform runs along the channels and small maps take
// at least kWinoMinGroups groups (2026-12-04 evening, `nabla prof conv`, 1 /
// 2 threads, ms, Winograd against the variant taken before): 32→32 on
// 14×14 forward 1.26 / 0.67 against implicit's 1.44 / 0.75, backward-data
// 1.26 / 0.68 against 1.44 / 0.76; 128→128 on 4×4 forward 1.49 / 0.94
// against im2col's 1.81 / 0.93, backward-data 1.49 / 0.96 against 2.19 /
// 1.11 (its backward-weights stays im2col: 2.09 / 1.62 against 2.19 /
// 1.24); 64→64 on 7×7 forward 1.17 / 0.67, a tie with directc's 1.24 /
// 0.64 (directc, first in the list, keeps it).
bool winograd_wins(const ConvShape& s, ConvPass pass) {
  const ConvParams& p = s.params();
  if (pass == ConvPass::BackwardWeights) return p.c_in >= 16 && p.c_out >= 16 && p.h * p.w >= 14 * 14;
  const int64_t min_map = p.c_in >= 64 && p.c_out >= 64 ? 4 * 4 : 14 * 14;
  return p.c_in >= 32 && p.c_out >= 32 && p.h * p.w >= min_map;
}

// A strided 1×1 layer (resnet's shortcuts) reads one of the sh·sw phase
// planes the implicit path splits the whole image into; im2col's strided
// gather copies only that one. Measured (`nabla prof conv`, 1 / 2 threads,
// implicit / im2col µs): 32→64 on 14×14 forward 276 / 172 and 142 / 90,
// backward-data 311 / 167, backward-weights 407 / 262; 64→32 on 28×28
// forward 1590 / 728, backward-data 1460 / 776, backward-weights 1610 / 765.
bool implicit_wins(const ConvShape& s, ConvPass) {
  const ConvParams& p = s.params();
  return !(p.kh == 1 && p.kw == 1 && (p.stride_h > 1 || p.stride_w > 1));
}
}  // namespace

// Per ISA, preferred first: the first that applies is what conv2d_* run.
// Adding a variant is one line in NABLA_CONV_VARIANTS.
#define NABLA_CONV_VARIANTS(ISA, NAME)                                  \
  {                                                                     \
    {"f32_conv_1x1_" NAME, "1x1", ISA, ConvAlgo::Pointwise, &pointwise, nullptr},                 \
    {"f32_conv_direct1_" NAME, "direct1", ISA, ConvAlgo::Direct1, &one_channel, nullptr},         \
    {"f32_conv_directc_" NAME, "directc", ISA, ConvAlgo::DirectC, &direct_applies, &direct_wins},   \
    {"f32_conv_winograd_" NAME, "winograd", ISA, ConvAlgo::Winograd, &winograd, &winograd_wins},  \
    {"f32_conv_implicit_" NAME, "implicit", ISA, ConvAlgo::Implicit, &implicit, &implicit_wins},  \
    {"f32_conv_im2col_" NAME, "im2col", ISA, ConvAlgo::Im2colGemm, &any_shape, nullptr},          \
  }

std::span<const ConvVariant> conv_variants(Isa isa) {
  static const ConvVariant kAvx512[] = NABLA_CONV_VARIANTS(Isa::Avx512, "avx512");
  static const ConvVariant kAvx2[] = NABLA_CONV_VARIANTS(Isa::Avx2, "avx2");
  static const ConvVariant kSse2[] = NABLA_CONV_VARIANTS(Isa::Generic, "sse2");
  return for_isa(isa, [] { return std::span<const ConvVariant>(kAvx512); },
                 [] { return std::span<const ConvVariant>(kAvx2); }, [] { return std::span<const ConvVariant>(kSse2); });
}
#undef NABLA_CONV_VARIANTS

const ConvVariant& conv_default(Isa isa, const ConvShape& s, ConvPass pass) {
  const auto variants = conv_variants(isa);
  for (const ConvVariant& v : variants)
    if (v.applies(s) && (!v.preferred || v.preferred(s, pass))) return v;
  return variants.back();  // the last one applies to every shape
}

std::optional<ConvPass> conv_pass_from_name(std::string_view name) {
  for (ConvPass q : {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights})
    if (name == conv_pass_name(q)) return q;
  return std::nullopt;
}

const char* conv_pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::Forward: return "forward";
    case ConvPass::BackwardData: return "backward-data";
    case ConvPass::BackwardWeights: return "backward-weights";
  }
  return "?";
}

namespace {

// The tuning profile's convolution choices of one ISA, resolved to
// variants: built once per profile (nabla::detail::profile_generation),
// immutable after, published through an atomic pointer (as the GEMM's
// configuration is); superseded tables stay alive in the store.
struct TunedConv {
  ConvParams p;
  ConvPass pass;
  const ConvVariant* v;
};
struct TunedTable {
  uint64_t generation = 0;
  std::vector<TunedConv> entries;
};
std::mutex g_tuned_mutex;
std::deque<TunedTable> g_tuned_store;                            // under g_tuned_mutex
std::array<std::atomic<const TunedTable*>, 3> g_tuned{};         // per ISA, null: not built

TunedTable build_tuned_table(Isa isa, uint64_t generation) {
  TunedTable t;
  t.generation = generation;
  const ProfileStatus st = profile_status(isa);
  if (!st.profile) return t;
  for (const ConvChoice& c : st.profile->conv) {
    const ConvParams p{.n = c.n, .c_in = c.c_in, .h = c.h, .w = c.w, .c_out = c.c_out, .kh = c.kh, .kw = c.kw,
                       .stride_h = c.stride_h, .stride_w = c.stride_w, .pad_h = c.pad_h, .pad_w = c.pad_w,
                       .dil_h = c.dil_h, .dil_w = c.dil_w};
    const std::optional<ConvPass> pass = conv_pass_from_name(c.pass);
    if (!pass) continue;
    try {
      const ConvShape s(p);
      for (const ConvVariant& v : conv_variants(isa))
        if (c.variant == v.tag && v.applies(s)) t.entries.push_back({p, *pass, &v});
    } catch (const Error&) {  // not a valid shape: nothing runs it
    }
  }
  return t;
}

const TunedTable& tuned_table(Isa isa) {
  const uint64_t generation = nabla::detail::profile_generation();
  auto& slot = g_tuned[static_cast<int>(isa)];
  if (const TunedTable* t = slot.load(std::memory_order_acquire); t && t->generation == generation) return *t;
  const std::lock_guard lock(g_tuned_mutex);
  if (const TunedTable* t = slot.load(std::memory_order_acquire); t && t->generation == generation) return *t;
  g_tuned_store.push_back(build_tuned_table(isa, generation));
  slot.store(&g_tuned_store.back(), std::memory_order_release);
  return g_tuned_store.back();
}

}  // namespace

const ConvVariant& conv_select(Isa isa, const ConvShape& s, ConvPass pass) {
  for (const TunedConv& t : tuned_table(isa).entries)
    if (t.pass == pass && t.p == s.params()) return *t.v;
  return conv_default(isa, s, pass);
}

std::string conv_shape_string(const ConvParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  auto pair = [&](const char* tag, int64_t a, int64_t b, int64_t dflt) {
    if (a == dflt && b == dflt) return std::string();
    return std::string(",") + tag + (a == b ? s(a) : s(a) + "x" + s(b));
  };
  return s(p.n) + "x" + s(p.c_in) + "x" + s(p.h) + "x" + s(p.w) + "," + s(p.c_out) + "x" + s(p.kh) + "x" + s(p.kw) +
         pair("s", p.stride_h, p.stride_w, 1) + pair("p", p.pad_h, p.pad_w, 0) + pair("d", p.dil_h, p.dil_w, 1);
}

}  // namespace detail

namespace {

using Buffer = ScratchBuffer;

// Per-thread scratch: the column matrix of the image a thread works on, and
// (on the calling thread) the per-group partial weight gradients.
struct Scratch {
  Buffer col;
  Buffer partial;
  Buffer padded;   // the direct one-channel and implicit paths
  Buffer flipped;  // the implicit backward-data's weights, Winograd's transformed ones (calling thread)
  Buffer wino;     // Winograd's transformed input tiles
  Buffer wide;     // several images' dZ (or outputs) side by side (see kWideCols)
  Buffer unpooled; // the convolution's output before an unfused max pool (calling thread)
  std::vector<int64_t> offsets;  // the implicit column matrix's rows (calling thread)
  std::vector<int32_t> pool_base;  // the fused max pool's tile indices (calling thread)
};
thread_local Scratch tl_scratch;

// Backward-weights sums the batch in at most this many groups of
// consecutive images, each into its own buffer, then adds the groups in
// index order. The grouping depends on the batch size only, never on the
// thread count; 16 groups keep a few threads busy while the final sum
// stays small against the GEMMs (16 × C_out·C_in·kh·kw adds).
constexpr int64_t kMaxWeightGroups = 16;

// Small maps: several images per GEMM. One image of a map under kWideCols
// output positions is a thin GEMM. In forward and backward-data its
// columns (OH·OW) fill part of one micro-tile; in backward-weights it sums
// over those few positions only, so each image reads and writes all of C:
// resnet's 128→128 layer on 4×4 does 4.7 MFLOP per image against 147 K
// floats of C, 16% of the FMA peak (`nabla prof --model resnet`). Such
// layers put the column matrices of several images side by side,
// [K, m·OH·OW], and run one GEMM of at least kWideDepth columns over them
// (the images' outputs, or dZ, gathered and scattered around it).
//
// Backward-weights, measured at 1 thread (`nabla prof conv`, ms, one image
// per GEMM / wide 256 / 512 / 1024 deep): 128→128 3×3 on 4×4 4.23 / 2.86 /
// 2.47 / 2.48; 64→128 3×3 stride 2 on 7×7 (4×4 out) 2.43 / 1.79 / 1.68 /
// 1.67; 64→128 1×1 stride 2 on 7×7 0.37 / 0.25 at 512. From 32 positions
// on, one image per GEMM measured as fast or faster there (one / wide):
// 64→64 3×3 on 7×7 1.95 / 1.92–2.21; 32→64 3×3 stride 2 on 14×14 (49
// positions) 1.17 / 1.36; 64→128 1×1 on 14×14 (196) 1.42 / 1.58–1.78, the
// wide matrix there being a copy of images the GEMM reads in place.
constexpr int64_t kWideCols = 32;
constexpr int64_t kWideDepth = 512;

bool wide_maps(const ConvShape& s) { return s.col_cols() < kWideCols; }

// The forward pass of an im2col layer with a spatial kernel takes several
// images per GEMM up to twice that: resnet's 64→64 3×3 on 7×7 (49
// positions) 1.82–1.85 → 1.66–1.67 ms at 1 thread in its step (`nabla prof
// --model resnet`), 0.91 → 0.78–0.84 at 2 (`nabla prof conv`). Not its
// strided 1×1 shortcut (faster alone, 183 → 167 µs, slower in the step,
// 197–199 → 206–225), nor backward-data and backward-weights (as fast or
// slower), nor the implicit variant (the strided 3×3 32→64 on 14×14: 0.95
// → 1.28 ms).
bool wide_forward(const detail::ConvVariant& v, const ConvShape& s) {
  const ConvParams& p = s.params();
  return wide_maps(s) || (v.algo == detail::ConvAlgo::Im2colGemm && s.col_cols() < 2 * kWideCols &&
                          p.kh * p.kw > 1);
}

// Images per wide GEMM (≥ 1).
int64_t wide_images(int64_t cols) { return std::max<int64_t>(1, (kWideDepth + cols - 1) / cols); }

// The number of groups backward-weights sums the batch in when its maps
// are wide: at most kMaxWeightGroups, and no more than the wide GEMMs the
// batch makes (a group of fewer images would thin the GEMM again). A
// function of the shape only.
int64_t wide_groups(int64_t n, int64_t cols) {
  return std::clamp<int64_t>(n / wide_images(cols), 1, std::min(n, kMaxWeightGroups));
}

// Images n0 .. n0 + m − 1 of [rows, cols] each, `stride` apart, side by
// side into dst [rows, m·cols].
void gather_images(int64_t m, int64_t rows, int64_t cols, const float* src, int64_t stride, float* dst) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * m * cols + i * cols, src + i * stride + r * cols, sizeof(float) * cols);
}

// The variant whose column matrix a wide GEMM uses: the images themselves
// for the pointwise one, else im2col.
detail::ConvVariant columns_variant(const detail::ConvVariant& v) {
  using detail::ConvAlgo;
  return {v.name, v.tag, v.isa, v.algo == ConvAlgo::Pointwise ? ConvAlgo::Pointwise : ConvAlgo::Im2colGemm, v.applies,
          nullptr};
}

// The wide column matrix [K, m·cols] of images n .. n + m − 1, in the
// calling thread's column buffer: im2col side by side, or the images
// themselves gathered (1×1 pointwise).
const float* wide_columns(const detail::ConvVariant& v, const ConvShape& s, const float* src, int64_t m) {
  const int64_t k = s.col_rows(), cols = s.col_cols(), ld = m * cols;
  float* wide = tl_scratch.col.get(k * ld);
  if (v.algo == detail::ConvAlgo::Pointwise) {
    gather_images(m, k, cols, src, s.src_image(), wide);
  } else {
    for (int64_t i = 0; i < m; ++i)
      detail::conv_kernels(v.isa).im2col(s.params(), s.oh(), s.ow(), src + i * s.src_image(), wide + i * cols, ld);
  }
  return wide;
}

std::string describe(const ConvParams& p) {
  auto s = [](int64_t v) { return std::to_string(v); };
  return " (N=" + s(p.n) + ", C_in=" + s(p.c_in) + ", H=" + s(p.h) + ", W=" + s(p.w) + ", C_out=" + s(p.c_out) +
         ", kernel=" + s(p.kh) + "x" + s(p.kw) + ", stride=" + s(p.stride_h) + "x" + s(p.stride_w) +
         ", padding=" + s(p.pad_h) + "x" + s(p.pad_w) + ", dilation=" + s(p.dil_h) + "x" + s(p.dil_w) + ")";
}

// Throws an Error naming `what` if the product of the factors overflows int64.
void check_count(std::initializer_list<int64_t> factors, const char* what, const ConvParams& p) {
  int64_t r = 1;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(r, f, &r))
      throw Error(std::string("conv2d: the ") + what + " element count overflows 64 bits" + describe(p));
}

void check_ptr(const char* fn, const void* ptr, const char* what, const ConvShape& s) {
  if (!ptr) throw Error(std::string(fn) + ": " + what + " is null" + describe(s.params()));
}

// fn(i) for i < n, over oneTBB when the work is worth waking threads for
// (the GEMM's own threshold), each call isolated (see the file comment).
template <class F>
void for_each_task(int64_t n, double flops, F&& fn) {
  if (n == 1 || num_threads() == 1 || flops < gemm_config(active_isa()).parallel_flops) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, 1), [&](const tbb::blocked_range<int64_t>& r) {
    for (int64_t i = r.begin(); i < r.end(); ++i) tbb::this_task_arena::isolate([&] { fn(i); });
  });
}

// fn(n, m) for the batch cut into chunks of about wide_images consecutive
// images (a function of the shape only), over oneTBB.
template <class F>
void for_each_wide_chunk(const ConvShape& s, double flops, F&& fn) {
  const int64_t n = s.params().n, chunks = (n + wide_images(s.col_cols()) - 1) / wide_images(s.col_cols());
  for_each_task(chunks, flops, [&](int64_t c) {
    const int64_t n0 = n * c / chunks;
    fn(n0, n * (c + 1) / chunks - n0);
  });
}

// The direct paths' layout (conv_kernels.hpp): the image's planes
// zero-padded into rows of pitch wp, plus kDirectSlack floats.
struct DirectLayout {
  explicit DirectLayout(const ConvShape& s)
      : s(s),
        wp(s.params().w + 2 * s.params().pad_w),
        plane((s.params().h + 2 * s.params().pad_h) * wp),
        pad_size(s.params().c_in * plane + detail::kDirectSlack) {}

  // One image into the thread's zero-padded buffer.
  float* pad(const float* src) const {
    const ConvParams& p = s.params();
    float* b = tl_scratch.padded.get(pad_size);
    std::fill_n(b, pad_size, 0.f);
    for (int64_t c = 0; c < p.c_in; ++c)
      for (int64_t y = 0; y < p.h; ++y)
        std::memcpy(b + c * plane + (y + p.pad_h) * wp + p.pad_w, src + (c * p.h + y) * p.w, sizeof(float) * p.w);
    return b;
  }

  // The image as the kernels read it: in place when it has no padding and
  // another image follows it in the batch (the blocks' reads past its end,
  // fewer than kDirectSlack floats, land in that image: computed, never
  // stored), else padded into the thread's buffer.
  const float* read(const float* src, bool followed) const {
    const ConvParams& p = s.params();
    if (p.pad_h == 0 && p.pad_w == 0 && followed && p.c_in * p.h * p.w >= detail::kDirectSlack) return src;
    return pad(src);
  }

  const ConvShape& s;
  int64_t wp, plane, pad_size;
};

// The implicit column matrix of a convolution of `planes` planes of h×w,
// padded by ph, pw, kernel kh×kw, stride sh, sw, dilation dh, dw. The padded
// image is split into sh·sw phase planes of hq×wq (hq = ⌈hp/sh⌉, wq =
// ⌈wp/sw⌉; stride 1: one plane, the padded image itself), phase (α, β)
// holding padded[α + sh·u, β + sw·v]. Tap (i, j) reads padded row
// y·sh + i·dh = sh·(y + ⌊i·dh/sh⌋) + (i·dh mod sh), so on the pitch wq,
// over the output positions q = y·wq + x, row (c, i, j) of the column
// matrix is one contiguous run: plane (c, i·dh mod sh, j·dw mod sw) from
// ⌊i·dh/sh⌋·wq + ⌊j·dw/sw⌋ on. The GEMM reads these runs in place through a
// table of row offsets (GemmArgs::b_rows): no column matrix is written. It
// computes wq − ow wasted columns per output row (the last row's are not
// computed), which unpitch drops. Every element read lies in its plane.
//
//     padded  [planes, sh, sw, hq, wq]     offsets [planes·kh·kw]
//     GEMM C  [M, cols], cols = (oh − 1)·wq + ow, output (y, x) at y·wq + x
struct ImplicitLayout {
  ImplicitLayout(int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t kh, int64_t kw,
                 int64_t sh = 1, int64_t sw = 1, int64_t dh = 1, int64_t dw = 1)
      : planes(planes), h(h), w(w), ph(ph), pw(pw), kh(kh), kw(kw), sh(sh), sw(sw), dh(dh), dw(dw),
        hq((h + 2 * ph + sh - 1) / sh), wq((w + 2 * pw + sw - 1) / sw),
        oh((h + 2 * ph - dh * (kh - 1) - 1) / sh + 1), ow((w + 2 * pw - dw * (kw - 1) - 1) / sw + 1),
        cols((oh - 1) * wq + ow) {}

  // One image into the calling thread's padded buffer (a stride splits it
  // into its phases; stride 1 is the one phase) with the ISA's kernel.
  const float* pad(const float* src, const detail::ConvKernels& kern) const {
    float* b = tl_scratch.padded.get(planes * sh * sw * hq * wq);
    kern.phase_split(planes, h, w, ph, pw, sh, sw, hq, wq, src, b);
    return b;
  }

  // The row offsets, in the calling thread's table (valid until its next call).
  const int64_t* offsets() const {
    std::vector<int64_t>& off = tl_scratch.offsets;
    if (off.size() < static_cast<size_t>(planes * kh * kw)) off.resize(static_cast<size_t>(planes * kh * kw));
    int64_t* o = off.data();
    const int64_t plane_size = hq * wq;
    for (int64_t c = 0; c < planes; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t a = i * dh, e = j * dw;
          *o++ = ((c * sh + a % sh) * sw + e % sw) * plane_size + (a / sh) * wq + e / sw;
        }
    return off.data();
  }

  // C [m, cols] = A [m, planes·kh·kw] · the implicit column matrix of the
  // padded image, with the epilogue.
  void gemm(int64_t m, const float* a, const float* padded, const int64_t* off, float* c, const Epilogue& ep) const {
    const int64_t k = planes * kh * kw;
    detail::GemmArgs g{false, false, m, cols, k, 1.f, a, k, padded, cols, 0.f, c, cols, ep};
    g.b_rows = off;
    detail::gemm_validated(g);
  }

  // The weight gradient of one image from dz on the padded pitch (dzp
  // [m, cols], rows oh·wq apart, zero in the wasted columns; see pitch),
  // with beta: C [m, K] = dzp · colᵀ, or, transposed, C [K, m] = col · dzpᵀ
  // (see conv2d_backward_weights_run).
  void gemm_wgrad(int64_t m, const float* dzp, const float* padded, const int64_t* off, float beta, float* c,
                  bool transposed) const {
    const int64_t k = planes * kh * kw;
    if (transposed) {
      detail::GemmArgs g{false, true, k, m, cols, 1.f, padded, cols, dzp, oh * wq, beta, c, m, Epilogue{}};
      g.a_rows = off;
      detail::gemm_validated(g);
    } else {
      detail::GemmArgs g{false, true, m, k, cols, 1.f, dzp, oh * wq, padded, cols, beta, c, k, Epilogue{}};
      g.b_rows = off;
      detail::gemm_validated(g);
    }
  }

  // src [m, oh, ow] onto the padded pitch, [m, oh, wq] with zeros in the
  // wasted columns (the GEMMs read the first cols of each oh·wq), in the
  // calling thread's column buffer, with the ISA's kernel.
  const float* pitch(int64_t m, const float* src, const detail::ConvKernels& kern) const {
    float* b = tl_scratch.col.get(m * oh * wq);
    kern.phase_split(m, oh, ow, 0, 0, 1, 1, oh, wq, src, b);
    return b;
  }

  int64_t planes, h, w, ph, pw, kh, kw, sh, sw, dh, dw, hq, wq, oh, ow, cols;
};

// The layout of a layer's own (forward, backward-weights) column matrix.
ImplicitLayout implicit_layout(const ConvShape& s) {
  const ConvParams& p = s.params();
  return ImplicitLayout(p.c_in, p.h, p.w, p.pad_h, p.pad_w, p.kh, p.kw, p.stride_h, p.stride_w, p.dil_h, p.dil_w);
}

// The column matrix [K, OH·OW] of one image: the image itself for a 1×1
// convolution, else im2col into the calling thread's buffer.
const float* image_columns(const detail::ConvVariant& v, const ConvShape& s, const float* src_n) {
  if (v.algo == detail::ConvAlgo::Pointwise) return src_n;
  float* col = tl_scratch.col.get(s.col_rows() * s.col_cols());
  detail::conv_kernels(v.isa).im2col(s.params(), s.oh(), s.ow(), src_n, col, s.col_cols());
  return col;
}

double gemm_flops(const ConvShape& s) {
  return 2.0 * static_cast<double>(s.params().n) * static_cast<double>(s.params().c_out) *
         static_cast<double>(s.col_rows()) * static_cast<double>(s.col_cols());
}

// Σ_g partial_g over `groups` consecutive buffers of `size` floats, in
// group order, into the first (contiguous adds over threads: each
// element's sum runs in the same order whatever the thread count).
void sum_groups(float* partial, int64_t groups, int64_t size) {
  detail::parallel_ranges(size, groups * size >= (int64_t{1} << 17) ? 2 : size + 1, 1024,
                          [&](int64_t e0, int64_t e1) {
                            for (int64_t g = 1; g < groups; ++g) {
                              const float* part = partial + g * size;
                              for (int64_t e = e0; e < e1; ++e) partial[e] += part[e];
                            }
                          });
}

// ---- Winograd F(2×2, 3×3) --------------------------------------------------
//
// A stride-1 3×3 correlation of a [cin, ih, iw] image padded by ph, pw gives
// [cout, oh, ow], oh = ih + 2·ph − 2. Cut the output into th×tw blocks of
// 2×2 (th = ⌈oh/2⌉; the last ones partial) and the padded input into the
// 4×4 tiles d under them (2 apart). Per tile and output channel,
//
//     Y = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A                 16 products instead of 36
//
// so with U[ξ] = (G g Gᵀ)[ξ] [cout, cin] (once per call) and V[ξ] = the
// transformed tiles [cin, P] of a group of images (P = their tile count),
// the sum is 16 GEMMs M[ξ] = U[ξ] · V[ξ] [cout, P] (nabla's GEMM), and the
// output transform Aᵀ M A applies the bias and activation (forward) or the
// derivative (backward-data) on the way out. Images go in groups of a size
// fixed by the shape (kWinoTiles tiles), never by the thread count, so the
// sums are the same for any number of threads.
//
//     G = |  1    0    0  |
//         | 1/2  1/2  1/2 |
//         | 1/2 −1/2  1/2 |
//         |  0    0    1  |
//
// Error: the transforms add and subtract at most 4 terms each way, so each
// output carries a few more roundings than the direct sum (measured on
// random data: see tests/test_conv.cpp, Conv3ForwardError and
// Conv3BackwardWeightsError).

// Tiles per GEMM: P = group·tiles-per-image ≥ kWinoTiles so that the
// GEMM's columns fill its micro-tiles (a 28×28 image has 196 tiles: groups
// of 2 images, 392 columns; 14×14, 49 tiles: groups of 6). 128, 256 and
// 512 measured within a few percent of each other at 1 and 2 threads (the
// forward on 14×14 and 28×28 32→64 layers, 2026-12-04); 256 kept.
constexpr int64_t kWinoTiles = 256;
// ... but the batch in at least this many groups (of ⌈n / 8⌉ images at
// most; a function of the shape, never of the thread count): on small maps
// kWinoTiles alone made one group of the whole batch (128→128 on 4×4: 4
// tiles per image), serial at any thread count, its transformed tiles
// past L2. `nabla prof conv`, 1 / 2 threads, ms, forward, one group / at
// least 4 / 8 / 16: 128→128 on 4×4 1.71 / 2.28, 1.56 / 0.99, 1.54 / 0.89,
// 1.69 / 0.94; 64→64 on 7×7 (16 tiles, 4 groups before) 1.21 / 0.78 at 4,
// 1.15 / 0.69 at 8, 1.11 / 0.62 at 16. Larger maps are unchanged (14×14:
// 6 images per group).
constexpr int64_t kWinoMinGroups = 8;

// fn(o0, o1) over output channels, in parallel where there are enough
// (o, c) pairs for the weight transforms to be worth waking threads for
// (each pair is independent: the split changes no result).
template <class F>
void for_weight_rows(int64_t cout, int64_t cin, F&& fn) {
  detail::parallel_ranges(cout, cout * cin >= 4096 ? 1 : cout + 1, 4, fn);
}

// u [16, cout, cin] = G g Gᵀ for g = weight(o, c, i, j), in float64. Per
// output channel the taps are first laid out [i][j][c], so that every step
// runs along c (unit stride: vectorised; as 16 scattered stores per (o, c)
// it took a quarter of a 128→128 forward on 4×4 maps), each value by the
// same operations in the same order as one (o, c) at a time would.
constexpr int64_t kWinoChunk = 64;  // input channels per step of the weight transforms

template <class Weight>
void winograd_weights(int64_t cout, int64_t cin, Weight weight, float* u) {
  // In chunks of kWinoChunk channels on the stack (a per-thread heap
  // buffer would allocate whenever a thread first ran a range, in any step).
  for_weight_rows(cout, cin, [&](int64_t o0, int64_t o1) {
    constexpr int64_t K = kWinoChunk;
    double g[9 * K];   // g[(i·3 + j)·K + c]
    double gg[3 * K];  // row a of G g: gg[j·K + c]
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t c0 = 0; c0 < cin; c0 += K) {
        const int64_t n = std::min(K, cin - c0);
        for (int64_t c = 0; c < n; ++c)
          for (int t = 0; t < 9; ++t) g[t * K + c] = weight(o, c0 + c, t / 3, t % 3);
        for (int a = 0; a < 4; ++a) {
          for (int j = 0; j < 3; ++j) {
            const double *g0 = g + j * K, *g1 = g + (3 + j) * K, *g2 = g + (6 + j) * K;
            double* d = gg + j * K;
            if (a == 0) for (int64_t c = 0; c < n; ++c) d[c] = g0[c];
            if (a == 1) for (int64_t c = 0; c < n; ++c) d[c] = 0.5 * (g0[c] + g1[c] + g2[c]);
            if (a == 2) for (int64_t c = 0; c < n; ++c) d[c] = 0.5 * (g0[c] - g1[c] + g2[c]);
            if (a == 3) for (int64_t c = 0; c < n; ++c) d[c] = g2[c];
          }
          const double *r0 = gg, *r1 = gg + K, *r2 = gg + 2 * K;
          float* d0 = u + ((a * 4 + 0) * cout + o) * cin + c0;
          float* d1 = u + ((a * 4 + 1) * cout + o) * cin + c0;
          float* d2 = u + ((a * 4 + 2) * cout + o) * cin + c0;
          float* d3 = u + ((a * 4 + 3) * cout + o) * cin + c0;
          for (int64_t c = 0; c < n; ++c) {
            d0[c] = static_cast<float>(r0[c]);
            d1[c] = static_cast<float>(0.5 * (r0[c] + r1[c] + r2[c]));
            d2[c] = static_cast<float>(0.5 * (r0[c] - r1[c] + r2[c]));
            d3[c] = static_cast<float>(r2[c]);
          }
        }
      }
  });
}

// n images src [cin, ih, iw] → dst [cout, oh, ow] with the transformed
// weights u (see above); act null: dst = f(conv + bias), else dst = conv ·
// f'(act) (act laid out like dst). With pool_idx (act null, oh and ow
// even): dst [cout, oh/2, ow/2] = the 2×2 stride-2 max pool of f(conv +
// bias), its arg-max indices into pool_idx (wino_output_maxpool).
void winograd_run(const detail::ConvKernels& kern, int64_t n, int64_t cin, int64_t ih, int64_t iw, int64_t ph,
                  int64_t pw, int64_t cout, const float* u, const float* src, const float* bias, Activation f,
                  const float* act, float* dst, double flops, int32_t* pool_idx = nullptr) {
  const int64_t oh = ih + 2 * ph - 2, ow = iw + 2 * pw - 2, th = (oh + 1) / 2, tw = (ow + 1) / 2;
  const int64_t tiles = th * tw;
  const int64_t per_group = std::min({n, std::max<int64_t>(1, (kWinoTiles + tiles - 1) / tiles),
                                      (n + kWinoMinGroups - 1) / kWinoMinGroups});
  const int64_t groups = (n + per_group - 1) / per_group;
  const int64_t pad_size = detail::wino_scratch_floats(th, tw);
  const int32_t* base = nullptr;
  if (pool_idx) {  // tile t's first output, 2·ty·ow + 2·tx, and a vector of slack
    std::vector<int32_t>& b = tl_scratch.pool_base;
    b.assign(static_cast<size_t>(tiles + 16), 0);
    for (int64_t t = 0; t < tiles; ++t) b[static_cast<size_t>(t)] = static_cast<int32_t>(2 * (t / tw) * ow + 2 * (t % tw));
    base = b.data();
  }
  for_each_task(groups, flops, [&](int64_t g) {
    const int64_t n0 = g * per_group, n1 = std::min(n, n0 + per_group), cols = (n1 - n0) * tiles;
    float* v = tl_scratch.wino.get(16 * cin * cols);
    float* m = tl_scratch.col.get(16 * cout * cols + detail::kDirectSlack);  // wino_output's last vector reads past
    float* pad = tl_scratch.padded.get(pad_size);
    for (int64_t i = n0; i < n1; ++i)
      kern.wino_input(cin, ih, iw, ph, pw, th, tw, src + i * cin * ih * iw, pad, v + (i - n0) * tiles, cols);
    for (int64_t xi = 0; xi < 16; ++xi) {
      detail::GemmArgs a{false, false, cout, cols, cin, 1.f, u + xi * cout * cin, cin, v + xi * cin * cols, cols,
                         0.f, m + xi * cout * cols, cols, Epilogue{}};
      detail::gemm_validated(a);
    }
    for (int64_t i = n0; i < n1; ++i) {
      if (pool_idx) {
        kern.wino_output_maxpool(cout, ow, tiles, m + (i - n0) * tiles, cols, bias, f, base, dst + i * cout * tiles,
                                 pool_idx + i * cout * tiles);
      } else {
        kern.wino_output(cout, oh, ow, th, tw, m + (i - n0) * tiles, cols, bias, f,
                         act ? act + i * cout * oh * ow : nullptr, dst + i * cout * oh * ow, pad);
      }
    }
  });
}

// Tiles per chunk of the weight gradient (its GEMMs are deep whatever the
// chunk; smaller chunks keep the transformed dZ and input in L2). Against
// kWinoTiles (1 / 2 threads, ms, `nabla prof conv`-like loop): 32→64 at
// 28×28 8.69–8.86 → 8.47–8.63 and 4.72–5.02 → 4.52–4.59; at 14×14 2.37–2.42
// → 2.26–2.32 and 1.49–1.51 → 1.34–1.36.
constexpr int64_t kWinoGradTiles = 128;

// The weight gradient by the same transforms. With V[ξ] = Bᵀ d B of the
// input tiles (as in the forward pass) and X[ξ] = A dY Aᵀ of dZ's 2×2
// blocks (Y = Aᵀ (U ⊙ V) A is linear in U), the gradient of U = G g Gᵀ is
// dU[ξ] = Σ_t X[ξ][·, t] · V[ξ][·, t]ᵀ, 16 GEMMs [cout, cin] whose depth is
// the tiles (long, where the direct form's is OH·OW per image: 2.25×
// fewer multiplications), and dg = Gᵀ dU G per (o, c) at the end. The batch
// is summed in groups of consecutive images fixed by the shape (as the
// other variants: each group its own dU, the groups added in order), each
// group in chunks of about kWinoGradTiles tiles.
void winograd_weights_grad(const detail::ConvKernels& kern, const ConvShape& s, const float* src, const float* dz,
                           float* dw, bool accumulate) {
  const ConvParams& p = s.params();
  const int64_t n = p.n, cin = p.c_in, cout = p.c_out, oh = s.oh(), ow = s.ow();
  const int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2, tiles = th * tw;
  const int64_t per_chunk = std::min(n, std::max<int64_t>(1, (kWinoGradTiles + tiles - 1) / tiles));
  const int64_t groups = std::clamp<int64_t>((n + per_chunk - 1) / per_chunk, 1, kMaxWeightGroups);
  const int64_t usize = 16 * cout * cin;
  float* partial = tl_scratch.partial.get(groups * usize);
  for_each_task(groups, gemm_flops(s), [&](int64_t g) {
    const int64_t n0 = n * g / groups, n1 = n * (g + 1) / groups, chunks = (n1 - n0 + per_chunk - 1) / per_chunk;
    float* pad = tl_scratch.padded.get(detail::wino_scratch_floats(th, tw));
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t a = n0 + (n1 - n0) * c / chunks, b = n0 + (n1 - n0) * (c + 1) / chunks, cols = (b - a) * tiles;
      float* v = tl_scratch.wino.get(16 * cin * cols);
      float* x = tl_scratch.col.get(16 * cout * cols);
      for (int64_t i = a; i < b; ++i) {
        kern.wino_input(cin, p.h, p.w, p.pad_h, p.pad_w, th, tw, src + i * s.src_image(), pad, v + (i - a) * tiles,
                        cols);
        kern.wino_grad_output(cout, oh, ow, th, tw, dz + i * s.dst_image(), pad, x + (i - a) * tiles, cols);
      }
      for (int64_t xi = 0; xi < 16; ++xi) {
        detail::GemmArgs args{false, true, cout, cin, cols, 1.f, x + xi * cout * cols, cols, v + xi * cin * cols,
                              cols, c == 0 ? 0.f : 1.f, partial + g * usize + xi * cout * cin, cin, Epilogue{}};
        detail::gemm_validated(args);
      }
    }
  });
  sum_groups(partial, groups, usize);
  // dg = Gᵀ dU G (G as in winograd_weights), in float64, separably: t = dU G
  // (4×3), then Gᵀ t.
  // Along c per output channel, as winograd_weights (the same operations
  // per value in the same order).
  for_weight_rows(cout, cin, [&](int64_t o0, int64_t o1) {
    constexpr int64_t K = kWinoChunk;
    double t[12 * K];  // t[(a·3 + j)·K + c]
    double g[9 * K];   // g[(i·3 + j)·K + c]
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t c0 = 0; c0 < cin; c0 += K) {
        const int64_t n = std::min(K, cin - c0);
        for (int a = 0; a < 4; ++a) {
          const float* d0 = partial + ((a * 4 + 0) * cout + o) * cin + c0;
          const float* d1 = partial + ((a * 4 + 1) * cout + o) * cin + c0;
          const float* d2 = partial + ((a * 4 + 2) * cout + o) * cin + c0;
          const float* d3 = partial + ((a * 4 + 3) * cout + o) * cin + c0;
          double *t0 = t + (a * 3) * K, *t1 = t0 + K, *t2 = t1 + K;
          for (int64_t c = 0; c < n; ++c) {
            const double e0 = d0[c], e1 = d1[c], e2 = d2[c], e3 = d3[c];
            t0[c] = e0 + 0.5 * (e1 + e2);
            t1[c] = 0.5 * (e1 - e2);
            t2[c] = 0.5 * (e1 + e2) + e3;
          }
        }
        for (int j = 0; j < 3; ++j) {
          const double *a0 = t + j * K, *a1 = t + (3 + j) * K, *a2 = t + (6 + j) * K, *a3 = t + (9 + j) * K;
          double *g0 = g + j * K, *g1 = g + (3 + j) * K, *g2 = g + (6 + j) * K;
          for (int64_t c = 0; c < n; ++c) {
            g0[c] = a0[c] + 0.5 * (a1[c] + a2[c]);
            g1[c] = 0.5 * (a1[c] - a2[c]);
            g2[c] = 0.5 * (a1[c] + a2[c]) + a3[c];
          }
        }
        float* out = dw + (o * cin + c0) * 9;
        for (int64_t c = 0; c < n; ++c)
          for (int k = 0; k < 9; ++k) {
            const double v = g[k * K + c];
            out[c * 9 + k] = static_cast<float>(accumulate ? out[c * 9 + k] + v : v);
          }
      }
  });
}

}  // namespace

ConvShape::ConvShape(const ConvParams& p) : p_(p) {
  auto fail = [&](const std::string& why) { throw Error("conv2d: " + why + describe(p)); };
  if (p.n < 1 || p.c_in < 1 || p.h < 1 || p.w < 1 || p.c_out < 1)
    fail("the batch, channel counts and image size must be positive");
  if (p.kh < 1 || p.kw < 1) fail("the kernel size must be positive");
  if (p.stride_h < 1 || p.stride_w < 1) fail("the stride must be positive");
  if (p.dil_h < 1 || p.dil_w < 1) fail("the dilation must be positive");
  if (p.pad_h < 0 || p.pad_w < 0) fail("the padding must not be negative");
  int64_t padded_h = 0, padded_w = 0, span_h = 0, span_w = 0;
  if (__builtin_mul_overflow(p.pad_h, 2, &padded_h) || __builtin_add_overflow(padded_h, p.h, &padded_h) ||
      __builtin_mul_overflow(p.pad_w, 2, &padded_w) || __builtin_add_overflow(padded_w, p.w, &padded_w) ||
      __builtin_mul_overflow(p.kh - 1, p.dil_h, &span_h) || __builtin_mul_overflow(p.kw - 1, p.dil_w, &span_w))
    fail("the padded input or the dilated kernel overflows 64 bits");
  span_h += 1;
  span_w += 1;
  if (span_h > padded_h || span_w > padded_w)
    fail("the dilated kernel (" + std::to_string(span_h) + "x" + std::to_string(span_w) +
         ") is larger than the padded input (" + std::to_string(padded_h) + "x" + std::to_string(padded_w) + ")");
  oh_ = (padded_h - span_h) / p.stride_h + 1;
  ow_ = (padded_w - span_w) / p.stride_w + 1;
  check_count({p.n, p.c_in, p.h, p.w}, "input", p);
  check_count({p.n, p.c_out, oh_, ow_}, "output", p);
  check_count({p.c_out, p.c_in, p.kh, p.kw}, "weights", p);
  check_count({p.c_in, p.kh, p.kw, oh_, ow_}, "column matrix", p);
}

bool ConvShape::is_pointwise() const {
  return p_.kh == 1 && p_.kw == 1 && p_.stride_h == 1 && p_.stride_w == 1 && p_.pad_h == 0 && p_.pad_w == 0;
}

void im2col(const ConvShape& s, const float* src, float* col) {
  check_ptr("im2col", src, "src", s);
  check_ptr("im2col", col, "col", s);
  detail::conv_kernels(active_isa()).im2col(s.params(), s.oh(), s.ow(), src, col, s.col_cols());
}

void col2im(const ConvShape& s, const float* col, float* dst) {
  check_ptr("col2im", col, "col", s);
  check_ptr("col2im", dst, "dst", s);
  detail::conv_kernels(active_isa()).col2im(s.params(), s.oh(), s.ow(), col, dst, Activation::None, nullptr,
                                            s.col_cols());
}

namespace {

// The forward pass by Winograd: the weights transformed into the calling
// thread's scratch, then the tiles (pooled into pool_idx when not null).
void winograd_forward(const detail::ConvKernels& kern, const ConvShape& s, const float* src, const float* weights,
                      const float* bias, Activation act, float* dst, int32_t* pool_idx) {
  const ConvParams& p = s.params();
  float* u = tl_scratch.flipped.get(16 * p.c_out * p.c_in);
  winograd_weights(p.c_out, p.c_in,
                   [&](int64_t o, int64_t c, int i, int j) { return weights[((o * p.c_in + c) * 3 + i) * 3 + j]; }, u);
  winograd_run(kern, p.n, p.c_in, p.h, p.w, p.pad_h, p.pad_w, p.c_out, u, src, bias, act, nullptr, dst, gemm_flops(s),
               pool_idx);
}

// The 2×2 stride-2 max pool of the convolution's output.
MaxPool2d pool_after(const ConvShape& s) {
  return MaxPool2d{.n = s.params().n, .c = s.params().c_out, .h = s.oh(), .w = s.ow(), .kernel = 2, .stride = 2};
}

}  // namespace

// Only kernels of up to 9 taps: the direct kernel's blocks then cover every
// tap, so each channel's dZ is built once; a 5×5 kernel's blocks of a few
// taps each rebuilt it, slower than the pool's scatter and one read (LeNet's
// first layer: 236–260 µs against 40 + 150).
bool detail::fuses_maxpool_grad(const ConvVariant& v, const ConvShape& s) {
  return v.algo == ConvAlgo::Direct1 && s.oh() % 2 == 0 && s.ow() % 2 == 0 && s.params().kh * s.params().kw <= 9;
}

bool detail::fuses_maxpool(const ConvVariant& v, const ConvShape& s) {
  if (s.oh() % 2 != 0 || s.ow() % 2 != 0) return false;
  return v.algo == ConvAlgo::Winograd || (v.algo == ConvAlgo::Direct1 && conv_kernels(v.isa).direct1_pools(s.ow()));
}

// The Winograd variant pools in its output transform, the one-channel
// direct one in its blocks of two output rows; any other runs the
// convolution into scratch, then the pooling kernel.
void detail::conv2d_forward_maxpool_run(const ConvVariant& v, const ConvShape& s, const float* src,
                                        const float* weights, const float* bias, Activation act, float* dst,
                                        int32_t* idx) {
  const ConvParams& p = s.params();
  if (fuses_maxpool(v, s) && v.algo == ConvAlgo::Direct1) {
    const DirectLayout d(s);
    const auto& kern = conv_kernels(v.isa);
    const int64_t pooled = p.c_out * (s.oh() / 2) * (s.ow() / 2);
    for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
      kern.direct1_forward_maxpool(p, s.oh(), s.ow(), d.pad(src + n * s.src_image()), weights, bias, act,
                                   dst + n * pooled, idx + n * pooled);
    });
    return;
  }
  if (fuses_maxpool(v, s)) {
    winograd_forward(conv_kernels(v.isa), s, src, weights, bias, act, dst, idx);
    return;
  }
  float* y = tl_scratch.unpooled.get(p.n * s.dst_image());
  conv2d_forward_run(v, s, src, weights, bias, act, y);
  max_pool2d_forward(pool_after(s), y, dst, idx);
}

// Per image n: dst_n [C_out, OH·OW] = act(W [C_out, K] · col_n [K, OH·OW] + bias)
void detail::conv2d_forward_run(const ConvVariant& v, const ConvShape& s, const float* src, const float* weights,
                                const float* bias, Activation act, float* dst) {
  const ConvParams& p = s.params();
  const int64_t k = s.col_rows(), cols = s.col_cols();
  const auto& kern = conv_kernels(v.isa);
  const Epilogue ep = Epilogue::bias_act(bias ? BiasKind::PerRow : BiasKind::None, bias, act);
  if (v.algo == ConvAlgo::Direct1) {
    const DirectLayout d(s);
    for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
      float* padded = d.pad(src + n * s.src_image());
      kern.direct1_forward(p, s.oh(), s.ow(), padded, weights, bias, act, dst + n * s.dst_image());
    });
    return;
  }
  if (v.algo == ConvAlgo::DirectC) {  // the weights packed once, by the calling thread
    const int64_t blocks = (p.c_out + kern.lanes - 1) / kern.lanes;
    float* wt = tl_scratch.flipped.get(blocks * k * kern.lanes);
    kern.directc_pack(p, weights, wt);
    const DirectLayout d(s);
    for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
      kern.directc_forward(p, s.oh(), s.ow(), d.read(src + n * s.src_image(), n + 1 < p.n), wt, bias, act,
                           dst + n * s.dst_image());
    });
    return;
  }
  if (v.algo == ConvAlgo::Winograd) {
    winograd_forward(kern, s, src, weights, bias, act, dst, nullptr);
    return;
  }
  if (wide_forward(v, s)) {  // several images per GEMM, then each image's outputs to its place
    const ConvVariant cv = columns_variant(v);
    for_each_wide_chunk(s, gemm_flops(s), [&](int64_t n, int64_t m) {
      const int64_t ld = m * cols;
      if (m == 1) {
        const float* b = image_columns(cv, s, src + n * s.src_image());
        gemm(Trans::No, Trans::No, p.c_out, cols, k, 1.f, weights, k, b, cols, 0.f, dst + n * s.dst_image(), cols, ep);
        return;
      }
      const float* b = wide_columns(cv, s, src + n * s.src_image(), m);
      float* c = tl_scratch.wide.get(p.c_out * ld);
      gemm(Trans::No, Trans::No, p.c_out, ld, k, 1.f, weights, k, b, ld, 0.f, c, ld, ep);
      for (int64_t i = 0; i < m; ++i)
        kern.unpitch(p.c_out, 1, cols, cols, ld, c + i * cols, dst + (n + i) * s.dst_image(), Activation::None, nullptr);
    });
    return;
  }
  if (v.algo == ConvAlgo::Implicit) {
    const ImplicitLayout L = implicit_layout(s);
    const int64_t* off = L.offsets();
    for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
      const float* padded = L.pad(src + n * s.src_image(), kern);
      float* c = tl_scratch.col.get(p.c_out * L.cols);
      L.gemm(p.c_out, weights, padded, off, c, ep);
      kern.unpitch(p.c_out, s.oh(), s.ow(), L.wq, L.cols, c, dst + n * s.dst_image(), Activation::None, nullptr);
    });
    return;
  }
  for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
    const float* b = image_columns(v, s, src + n * s.src_image());
    gemm(Trans::No, Trans::No, p.c_out, cols, k, 1.f, weights, k, b, cols, 0.f, dst + n * s.dst_image(), cols, ep);
  });
}

namespace {

// Strided backward-data without a column matrix or col2im. Input row u
// receives from the kernel rows i with u + ph − i·dh = sh·y, 0 ≤ y < oh:
// with r = (u + ph) mod sh and T = ⌊(u + ph)/sh⌋, those are the taps with
// i·dh mod sh = r, at y = T − ι_i, ι_i = ⌊i·dh/sh⌋ (columns alike: s, S,
// κ_j). So each input phase (r, s) — the inputs u = sh·T + r − ph,
// v = sw·S + s − pw — is a stride-1 correlation of dZ with its own taps:
//
//     dX[c, u, v] = Σ_{o, i ∈ I_r, j ∈ J_s} W[o, c, i, j] · dZ[o, T − ι_i, S − κ_j]
//
// one GEMM per phase, [C_in, (o, i, j)] · an implicit column matrix read
// from dZ zero-padded by PT = max ι on top and PL = max κ on the left (and
// enough at the bottom and right for every phase), on the pitch wz, output
// (T, S) at (T − t0)·wz + S − s0. The result is scattered into its phase of
// dX (a phase no tap reaches gets zeros), then dX ⊙= f'(act).
struct Phase {
  int64_t r, s, t0, nt, s0, ns;  // the phase and its T, S ranges
  int64_t k, cols;               // GEMM depth (0: no tap reaches it) and columns
  int64_t w_at, off_at;          // its weights and row offsets in the shared tables
};
thread_local std::vector<Phase> tl_phases;

void strided_backward_data(const ConvShape& sh_, const detail::ConvKernels& kern, const float* diff_dst,
                           const float* weights, float* diff_src, Activation src_act, const float* src) {
  const ConvParams& p = sh_.params();
  const int64_t sh = p.stride_h, sw = p.stride_w, oh = sh_.oh(), ow = sh_.ow(), taps = p.kh * p.kw;
  const int64_t pt = (p.kh - 1) * p.dil_h / sh, pl = (p.kw - 1) * p.dil_w / sw;
  // T ranges [t0, t0 + nt) of each row phase (columns alike).
  auto range = [](int64_t r, int64_t stride, int64_t pad, int64_t n_in, int64_t& t0, int64_t& nt) {
    t0 = pad - r <= 0 ? 0 : (pad - r + stride - 1) / stride;
    const int64_t last = n_in - 1 + pad - r;  // u ≤ n_in − 1
    nt = last < 0 ? 0 : std::max<int64_t>(0, last / stride + 1 - t0);
  };
  int64_t pb = 0, pr = 0;
  std::vector<Phase>& phases = tl_phases;
  phases.clear();
  for (int64_t r = 0; r < sh; ++r)
    for (int64_t c = 0; c < sw; ++c) {
      Phase ph{};
      ph.r = r;
      ph.s = c;
      range(r, sh, p.pad_h, p.h, ph.t0, ph.nt);
      range(c, sw, p.pad_w, p.w, ph.s0, ph.ns);
      if (ph.nt == 0 || ph.ns == 0) continue;
      pb = std::max(pb, ph.t0 + ph.nt - oh);
      pr = std::max(pr, ph.s0 + ph.ns - ow);
      phases.push_back(ph);
    }
  const int64_t wz = pl + ow + pr, hz = pt + oh + pb, plane = hz * wz;
  // Weights [C_in, (o, i, j)] and row offsets per phase, in shared tables.
  float* wt = tl_scratch.flipped.get(sh_.weights_size());
  std::vector<int64_t>& off = tl_scratch.offsets;
  if (off.size() < static_cast<size_t>(p.c_out * taps)) off.resize(static_cast<size_t>(p.c_out * taps));
  int64_t w_at = 0, off_at = 0, max_cols = 1;
  for (Phase& ph : phases) {
    ph.w_at = w_at;
    ph.off_at = off_at;
    int64_t k = 0;
    for (int64_t o = 0; o < p.c_out; ++o)
      for (int64_t i = 0; i < p.kh; ++i) {
        if (i * p.dil_h % sh != ph.r) continue;
        for (int64_t j = 0; j < p.kw; ++j) {
          if (j * p.dil_w % sw != ph.s) continue;
          const int64_t iota = i * p.dil_h / sh, kappa = j * p.dil_w / sw;
          off[static_cast<size_t>(off_at + k)] = o * plane + (ph.t0 - iota + pt) * wz + (ph.s0 - kappa + pl);
          ++k;
        }
      }
    ph.k = k;
    ph.cols = (ph.nt - 1) * wz + ph.ns;
    max_cols = std::max(max_cols, ph.cols);
    for (int64_t c = 0; c < p.c_in; ++c) {
      float* row = wt + w_at + c * k;
      for (int64_t o = 0; o < p.c_out; ++o)
        for (int64_t i = 0; i < p.kh; ++i) {
          if (i * p.dil_h % sh != ph.r) continue;
          for (int64_t j = 0; j < p.kw; ++j)
            if (j * p.dil_w % sw == ph.s) *row++ = weights[((o * p.c_in + c) * p.kh + i) * p.kw + j];
        }
    }
    w_at += p.c_in * k;
    off_at += k;
  }
  const int64_t* offsets = off.data();
  for_each_task(p.n, gemm_flops(sh_), [&](int64_t n) {
    // dZ_n zero-padded by pt, pb, pl, pr.
    const float* dz = diff_dst + n * sh_.dst_image();
    float* padded = tl_scratch.padded.get(p.c_out * plane);
    for (int64_t o = 0; o < p.c_out; ++o) {
      float* q = padded + o * plane;
      std::fill_n(q, pt * wz + pl, 0.f);
      for (int64_t y = 0; y < oh; ++y) {
        float* row = q + (y + pt) * wz + pl;
        std::memcpy(row, dz + (o * oh + y) * ow, sizeof(float) * ow);
        std::fill_n(row + ow, y + 1 < oh ? pr + pl : pr, 0.f);  // this row's right, the next one's left
      }
      std::fill_n(q + (oh + pt) * wz, pb * wz, 0.f);
    }
    float* dx = diff_src + n * sh_.src_image();
    // Stride 2 across: the two column phases of a row phase side by side in
    // the buffer, joined into whole rows (phase_join); else each phase into
    // its every sw-th column.
    const int64_t slot = p.c_in * max_cols;
    float* c_buf = tl_scratch.col.get((sw == 2 ? 2 : 1) * slot);
    auto product = [&](const Phase& ph, float* c) {
      if (ph.k == 0) return;
      detail::GemmArgs g{false, false, p.c_in, ph.cols, ph.k, 1.f, wt + ph.w_at, ph.k, padded, ph.cols, 0.f,
                         c, ph.cols, Epilogue{}};
      g.b_rows = offsets + ph.off_at;
      detail::gemm_validated(g);
    };
    if (sw == 2) {
      for (size_t i = 0; i < phases.size();) {
        // phases are ordered by (r, s): one or two of them share r.
        const Phase& a = phases[i];
        const Phase* e = a.s == 0 ? &a : nullptr;
        const Phase* o = a.s == 1 ? &a : i + 1 < phases.size() && phases[i + 1].r == a.r ? &phases[i + 1] : nullptr;
        i += e && o ? 2 : 1;
        if (e) product(*e, c_buf);
        if (o) product(*o, c_buf + slot);
        const bool e_zero = !e || e->k == 0, o_zero = !o || o->k == 0;
        for (int64_t c = 0; c < p.c_in; ++c)
          kern.phase_join(a.nt, p.w, p.pad_w, e_zero ? nullptr : c_buf + c * e->cols, e_zero ? 0 : e->s0,
                          o_zero ? nullptr : c_buf + slot + c * o->cols, o_zero ? 0 : o->s0, wz,
                          dx + (c * p.h + sh * a.t0 + a.r - p.pad_h) * p.w, sh * p.w);
      }
    } else {
      for (const Phase& ph : phases) {
        product(ph, c_buf);
        for (int64_t c = 0; c < p.c_in; ++c)
          for (int64_t t = 0; t < ph.nt; ++t) {
            float* d = dx + (c * p.h + sh * (ph.t0 + t) + ph.r - p.pad_h) * p.w + sw * ph.s0 + ph.s - p.pad_w;
            const float* g = c_buf + c * ph.cols + t * wz;
            for (int64_t x = 0; x < ph.ns; ++x) d[x * sw] = ph.k > 0 ? g[x] : 0.f;
          }
      }
    }
    if (src_act != Activation::None)
      kern.unpitch(p.c_in, p.h, p.w, p.w, p.h * p.w, dx, dx, src_act, src + n * sh_.src_image());
  });
}

}  // namespace

// Per image n: col [K, OH·OW] = Wᵀ [K, C_out] · dZ_n [C_out, OH·OW], then
// diff_src_n [C_in, H, W] = col2im(col) ⊙ f'(src_n)
void detail::conv2d_backward_data_run(const ConvVariant& v, const ConvShape& s, const float* diff_dst,
                                      const float* weights, float* diff_src, Activation src_act, const float* src) {
  const ConvParams& p = s.params();
  const int64_t k = s.col_rows(), cols = s.col_cols();
  const auto& kern = conv_kernels(v.isa);
  if (v.algo == ConvAlgo::Winograd) {
    // The forward Winograd of dZ padded by 2 − pad with the flipped,
    // transposed weights W'[c, o, i, j] = W[o, c, 2 − i, 2 − j].
    float* u = tl_scratch.flipped.get(16 * p.c_out * p.c_in);
    winograd_weights(p.c_in, p.c_out,
                     [&](int64_t c, int64_t o, int i, int j) {
                       return weights[((o * p.c_in + c) * 3 + 2 - i) * 3 + 2 - j];
                     },
                     u);
    winograd_run(kern, p.n, p.c_out, s.oh(), s.ow(), 2 - p.pad_h, 2 - p.pad_w, p.c_in, u, diff_dst, nullptr,
                 src_act, src_act == Activation::None ? nullptr : src, diff_src, gemm_flops(s));
    return;
  }
  if (wide_maps(s)) {  // dZ of several images side by side, one GEMM, then col2im per image
    const ConvVariant cv = columns_variant(v);
    for_each_wide_chunk(s, gemm_flops(s), [&](int64_t n, int64_t m) {
      const int64_t ld = m * cols;
      const float* dz = diff_dst + n * s.dst_image();
      if (m > 1) {
        float* w = tl_scratch.wide.get(p.c_out * ld);
        gather_images(m, p.c_out, cols, dz, s.dst_image(), w);
        dz = w;
      }
      float* col = tl_scratch.col.get(k * ld);
      gemm(Trans::Yes, Trans::No, k, ld, p.c_out, 1.f, weights, k, dz, ld, 0.f, col, ld);
      for (int64_t i = 0; i < m; ++i) {
        float* dx_i = diff_src + (n + i) * s.src_image();
        const float* act_i = src_act == Activation::None ? nullptr : src + (n + i) * s.src_image();
        if (cv.algo == ConvAlgo::Pointwise) {
          kern.unpitch(p.c_in, 1, cols, cols, ld, col + i * cols, dx_i, src_act, act_i);
        } else {
          kern.col2im(p, s.oh(), s.ow(), col + i * cols, dx_i, src_act, act_i, ld);
        }
      }
    });
    return;
  }
  if (v.algo == ConvAlgo::Implicit && p.stride_h == 1 && p.stride_w == 1) {
    // dX_n = the stride-1 convolution of dZ_n, padded by dil_h·(kh − 1) −
    // pad_h and dil_w·(kw − 1) − pad_w, with the weights flipped in space
    // and transposed: W' [C_in, (o, i, j)] = W[o, c, kh − 1 − i, kw − 1 − j].
    const ImplicitLayout L(p.c_out, s.oh(), s.ow(), p.dil_h * (p.kh - 1) - p.pad_h, p.dil_w * (p.kw - 1) - p.pad_w,
                           p.kh, p.kw, 1, 1, p.dil_h, p.dil_w);
    const int64_t taps = p.kh * p.kw;
    float* wf = tl_scratch.flipped.get(s.weights_size());
    for (int64_t o = 0; o < p.c_out; ++o)
      for (int64_t c = 0; c < p.c_in; ++c)
        for (int64_t t = 0; t < taps; ++t) wf[(c * p.c_out + o) * taps + t] = weights[(o * p.c_in + c) * taps + taps - 1 - t];
    const int64_t* off = L.offsets();
    for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
      const float* padded = L.pad(diff_dst + n * s.dst_image(), kern);
      float* c = tl_scratch.col.get(p.c_in * L.cols);
      L.gemm(p.c_in, wf, padded, off, c, Epilogue{});
      kern.unpitch(p.c_in, p.h, p.w, L.wq, L.cols, c, diff_src + n * s.src_image(), src_act,
                   src_act == Activation::None ? nullptr : src + n * s.src_image());
    });
    return;
  }
  if (v.algo == ConvAlgo::Implicit) return strided_backward_data(s, kern, diff_dst, weights, diff_src, src_act, src);
  for_each_task(p.n, gemm_flops(s), [&](int64_t n) {
    const float* dz_n = diff_dst + n * s.dst_image();
    float* dx_n = diff_src + n * s.src_image();
    const float* act_n = src_act == Activation::None ? nullptr : src + n * s.src_image();
    if (v.algo == ConvAlgo::Pointwise) {  // the column matrix is dx_n itself: fuse f' in the epilogue
      const Epilogue ep = act_n ? Epilogue::derivative(src_act, act_n, cols) : Epilogue{};
      gemm(Trans::Yes, Trans::No, k, cols, p.c_out, 1.f, weights, k, dz_n, cols, 0.f, dx_n, cols, ep);
      return;
    }
    float* col = tl_scratch.col.get(k * cols);
    gemm(Trans::Yes, Trans::No, k, cols, p.c_out, 1.f, weights, k, dz_n, cols, 0.f, col, cols);
    kern.col2im(p, s.oh(), s.ow(), col, dx_n, src_act, act_n, cols);
  });
}

// Per group g of consecutive images: partial_g = Σ_{n in g} dZ_n · col_nᵀ
// (in image order), then diff_weights (+)= (Σ_g partial_g in group order).
// The GEMM is dZ_n [C_out, OH·OW] · col_nᵀ [OH·OW, K], or, when C_out fills
// a vector (measured faster from 16 output channels on: the long K side
// then runs along the micro-tile's rows) and is at most K, its transpose
// col_n [K, OH·OW] · dZ_nᵀ [OH·OW, C_out], the partials then being dWᵀ.
// The transposed operand is packed per image, so the form that packs the
// smaller of dZ_n and col_n wins: a 1×1 layer that widens (64→128 on
// 14×14) runs untransposed, 1.36 → 1.24 ms (`nabla prof conv`, 1 thread).
void detail::conv2d_backward_weights_run(const ConvVariant& v, const ConvShape& s, const float* src,
                                         const float* diff_dst, float* diff_weights, float* diff_bias,
                                         bool accumulate, const int32_t* pool_idx) {
  const ConvParams& p = s.params();
  if (pool_idx && !fuses_maxpool_grad(v, s)) {  // the pool's scatter into scratch first
    float* dz = tl_scratch.unpooled.get(p.n * s.dst_image());
    max_pool2d_backward(pool_after(s), diff_dst, pool_idx, dz);
    conv2d_backward_weights_run(v, s, src, dz, diff_weights, diff_bias, accumulate);
    return;
  }
  if (v.algo == ConvAlgo::Winograd) {
    winograd_weights_grad(conv_kernels(v.isa), s, src, diff_dst, diff_weights, accumulate);
    if (diff_bias) bias_grad(p.n, p.c_out, s.col_cols(), diff_dst, BiasKind::PerRow, diff_bias, accumulate);
    return;
  }
  const int64_t k = s.col_rows(), cols = s.col_cols(), wsize = s.weights_size();
  const auto& kern = conv_kernels(v.isa);
  if (v.algo == ConvAlgo::DirectC && directc_grads(p.kw)) {
    // Per group of consecutive images (fixed by the batch size), partials
    // in the kernel's layout — [blocks][taps][lanes], then the bias
    // [blocks][lanes] — added in group order, then laid out as [C_out, K].
    const int64_t lanes = kern.lanes, blocks = (p.c_out + lanes - 1) / lanes, wlen = blocks * k * lanes;
    const int64_t stride = wlen + blocks * lanes, groups = std::min(p.n, kMaxWeightGroups);
    float* partial = tl_scratch.partial.get(groups * stride);
    const DirectLayout d(s);
    for_each_task(groups, gemm_flops(s), [&](int64_t g) {
      float* part = partial + g * stride;
      std::fill_n(part, stride, 0.f);
      for (int64_t n = p.n * g / groups; n < p.n * (g + 1) / groups; ++n)
        kern.directc_backward_weights(p, s.oh(), s.ow(), d.read(src + n * s.src_image(), n + 1 < p.n),
                                      diff_dst + n * s.dst_image(),
                                      part, part + wlen);
    });
    sum_groups(partial, groups, stride);
    for (int64_t o = 0; o < p.c_out; ++o) {
      const float* from = partial + (o / lanes * k) * lanes + o % lanes;
      float* to = diff_weights + o * k;
      for (int64_t t = 0; t < k; ++t) to[t] = (accumulate ? to[t] : 0.f) + from[t * lanes];
      if (diff_bias) diff_bias[o] = (accumulate ? diff_bias[o] : 0.f) + partial[wlen + o];
    }
    return;
  }
  const bool direct = v.algo == ConvAlgo::Direct1;
  const bool transposed = p.c_out >= 16 && p.c_out <= k && !direct;
  // The implicit variant reads the column matrix from the padded image
  // where the pitch wastes at most a tenth of the columns, or for a stride
  // (whose im2col copies element by element); elsewhere im2col + GEMM was
  // measured faster for this pass (the CNN's 14×14 pad-1 layer, pitch 16:
  // 3.13 against 2.82 ms; conv3's 28×28, pitch 30: 11.2 against 11.8 ms).
  const ImplicitLayout L = implicit_layout(s);
  // Maps of fewer than kWideCols positions: several images per GEMM.
  const bool small = wide_maps(s);
  const bool implicit = v.algo == ConvAlgo::Implicit && !small &&
                        (p.stride_h > 1 || p.stride_w > 1 || 10 * L.wq <= 11 * L.ow);
  const int64_t* off = implicit ? L.offsets() : nullptr;
  const bool wide = small && !direct;
  const int64_t groups = wide ? wide_groups(p.n, cols) : std::min(p.n, kMaxWeightGroups);
  const int64_t per_gemm = wide ? wide_images(cols) : 1;
  // The direct kernel sums the bias gradient too: each group's partial
  // holds its C_out bias sums after the weights.
  const bool fused_bias = direct && diff_bias;
  const int64_t stride = wsize + (fused_bias ? p.c_out : 0);
  float* partial = tl_scratch.partial.get(groups * stride);
  // Implicit variants not taking their own path here run as im2col.
  const ConvVariant cv = columns_variant(v);
  for_each_task(groups, gemm_flops(s), [&](int64_t g) {
    const int64_t n0 = p.n * g / groups, n1 = p.n * (g + 1) / groups;
    if (implicit) {
      for (int64_t n = n0; n < n1; ++n) {
        const float* padded = L.pad(src + n * s.src_image(), kern);
        const float* dzp = L.pitch(p.c_out, diff_dst + n * s.dst_image(), kern);
        L.gemm_wgrad(p.c_out, dzp, padded, off, n == n0 ? 0.f : 1.f, partial + g * wsize, transposed);
      }
      return;
    }
    if (direct) {
      const DirectLayout d(s);
      float* part = partial + g * stride;
      std::fill_n(part, stride, 0.f);
      const int64_t pooled = p.c_out * (s.oh() / 2) * (s.ow() / 2);
      for (int64_t n = n0; n < n1; ++n) {
        float* db = fused_bias ? part + wsize : nullptr;
        if (pool_idx) {
          kern.direct1_backward_weights_pooled(p, s.oh(), s.ow(), d.pad(src + n * s.src_image()), diff_dst + n * pooled,
                                               pool_idx + n * pooled, part, db);
        } else {
          kern.direct1_backward_weights(p, s.oh(), s.ow(), d.pad(src + n * s.src_image()), diff_dst + n * s.dst_image(),
                                        part, db);
        }
      }
      return;
    }
    // The group's images in `chunks` GEMMs of consecutive images, as even
    // as they divide (a leftover image alone would be a thin GEMM again).
    const int64_t chunks = std::max<int64_t>(1, (n1 - n0) / per_gemm);
    for (int64_t c = 0; c < chunks; ++c) {
      // Images n .. n + m − 1 side by side: col [K, m·cols], dz [C_out, m·cols].
      const int64_t n = n0 + (n1 - n0) * c / chunks, m = n0 + (n1 - n0) * (c + 1) / chunks - n, ld = m * cols;
      const float* col = nullptr;
      const float* dz = diff_dst + n * s.dst_image();
      if (m == 1) {
        col = image_columns(cv, s, src + n * s.src_image());
      } else {
        col = wide_columns(cv, s, src + n * s.src_image(), m);
        float* wdz = tl_scratch.wide.get(p.c_out * ld);
        gather_images(m, p.c_out, cols, dz, s.dst_image(), wdz);
        dz = wdz;
      }
      const float beta = n == n0 ? 0.f : 1.f;
      if (transposed) {
        gemm(Trans::No, Trans::Yes, k, p.c_out, ld, 1.f, col, ld, dz, ld, beta, partial + g * wsize, p.c_out);
      } else {
        gemm(Trans::No, Trans::Yes, p.c_out, k, ld, 1.f, dz, ld, col, ld, beta, partial + g * wsize, k);
      }
    }
  });
  // Σ_g partial_g in group order, in the partials' own layout (contiguous
  // adds, over threads: each element's sum runs in the same order whatever
  // the thread count), into group 0's; then once into diff_weights,
  // transposed where the partials are dWᵀ. (Adding each partial into
  // diff_weights through the transpose cost ~0.2 ms per pass on the 32→64
  // 3×3 layers, serial.)
  sum_groups(partial, groups, stride);
  const float zero = 0.f;
  const float* old = accumulate ? diff_weights : &zero;
  const int64_t step = accumulate ? 1 : 0;
  if (transposed) {
    for (int64_t o = 0; o < p.c_out; ++o)
      for (int64_t r = 0; r < k; ++r) diff_weights[o * k + r] = old[(o * k + r) * step] + partial[r * p.c_out + o];
  } else {
    for (int64_t e = 0; e < wsize; ++e) diff_weights[e] = old[e * step] + partial[e];
  }
  if (fused_bias) {
    for (int64_t o = 0; o < p.c_out; ++o) diff_bias[o] = (accumulate ? diff_bias[o] : 0.f) + partial[wsize + o];
  } else if (diff_bias) {
    bias_grad(p.n, p.c_out, cols, diff_dst, BiasKind::PerRow, diff_bias, accumulate);
  }
}

// ---- public entry points: validate, trace, run the preferred variant -------

namespace {

double fl(int64_t v) { return static_cast<double>(v); }

// The variant's name with the pass and fusion inserted after the algorithm:
// "f32_conv_im2col_bias_relu_avx512", "f32_conv_1x1_bwd_data_drelu_avx512".
trace::Call conv_call(const detail::ConvVariant& v, const ConvShape& s, std::string op, double bytes) {
  return {detail::KernelName{std::string("conv_") + v.tag, std::move(op), "", "", v.isa}.str(),
          detail::conv_shape_string(s.params()), gemm_flops(s), bytes};
}

std::string join(std::string a, const std::string& b) { return a.empty() ? b : b.empty() ? a : a + "_" + b; }

}  // namespace

void conv2d_forward(const ConvShape& s, const float* src, const float* weights, const float* bias,
                    Activation act, float* dst) {
  check_ptr("conv2d_forward", src, "src", s);
  check_ptr("conv2d_forward", weights, "weights", s);
  check_ptr("conv2d_forward", dst, "dst", s);
  check_activation(act, "conv2d_forward");
  const detail::ConvVariant& v = detail::conv_select(active_isa(), s, detail::ConvPass::Forward);
  const trace::KernelScope scope([&] {
    return conv_call(v, s, detail::fusion_name(bias != nullptr, act, Activation::None),
                     4 * (fl(s.params().n) * fl(s.src_image() + s.dst_image()) + fl(s.weights_size())));
  });
  detail::conv2d_forward_run(v, s, src, weights, bias, act, dst);
}

namespace {

// The convolutions with a 2×2 stride-2 max pool: an output of at least
// one window, and their compulsory traffic (the input, the weights, the
// pooled values and their indices).
void check_poolable(const char* fn, const ConvShape& s) {
  if (s.oh() < 2 || s.ow() < 2)
    throw Error(std::string(fn) + ": the output " + std::to_string(s.oh()) + "x" + std::to_string(s.ow()) +
                " is smaller than the 2x2 pooling window" + describe(s.params()));
}

double pooled_bytes(const ConvShape& s) {
  const double pooled = fl(s.params().n) * fl(s.params().c_out) * fl(s.oh() / 2) * fl(s.ow() / 2);
  return 4 * (fl(s.params().n) * fl(s.src_image()) + fl(s.weights_size())) + 8 * pooled;
}

}  // namespace

bool conv2d_fuses_maxpool(const ConvShape& s) {
  return detail::fuses_maxpool(detail::conv_select(active_isa(), s, detail::ConvPass::Forward), s);
}

void conv2d_forward_maxpool(const ConvShape& s, const float* src, const float* weights, const float* bias,
                            Activation act, float* dst, int32_t* idx) {
  check_ptr("conv2d_forward_maxpool", src, "src", s);
  check_ptr("conv2d_forward_maxpool", weights, "weights", s);
  check_ptr("conv2d_forward_maxpool", dst, "dst", s);
  check_ptr("conv2d_forward_maxpool", idx, "idx", s);
  check_activation(act, "conv2d_forward_maxpool");
  check_poolable("conv2d_forward_maxpool", s);
  const detail::ConvVariant& v = detail::conv_select(active_isa(), s, detail::ConvPass::Forward);
  const trace::KernelScope scope([&] {
    return conv_call(v, s, join(detail::fusion_name(bias != nullptr, act, Activation::None), "maxpool"), pooled_bytes(s));
  });
  detail::conv2d_forward_maxpool_run(v, s, src, weights, bias, act, dst, idx);
}

bool conv2d_fuses_maxpool_grad(const ConvShape& s) {
  return detail::fuses_maxpool_grad(detail::conv_select(active_isa(), s, detail::ConvPass::BackwardWeights), s);
}

void conv2d_backward_weights_maxpool(const ConvShape& s, const float* src, const float* diff_pooled,
                                     const int32_t* idx, float* diff_weights, float* diff_bias, bool accumulate) {
  check_ptr("conv2d_backward_weights_maxpool", src, "src", s);
  check_ptr("conv2d_backward_weights_maxpool", diff_pooled, "diff_pooled", s);
  check_ptr("conv2d_backward_weights_maxpool", idx, "idx", s);
  check_ptr("conv2d_backward_weights_maxpool", diff_weights, "diff_weights", s);
  check_poolable("conv2d_backward_weights_maxpool", s);
  const detail::ConvVariant& v = detail::conv_select(active_isa(), s, detail::ConvPass::BackwardWeights);
  const trace::KernelScope scope([&] { return conv_call(v, s, "bwd_weights_maxpool", pooled_bytes(s)); });
  detail::conv2d_backward_weights_run(v, s, src, diff_pooled, diff_weights, diff_bias, accumulate, idx);
}

void conv2d_backward_data(const ConvShape& s, const float* diff_dst, const float* weights, float* diff_src,
                          Activation src_act, const float* src) {
  check_ptr("conv2d_backward_data", diff_dst, "diff_dst", s);
  check_ptr("conv2d_backward_data", weights, "weights", s);
  check_ptr("conv2d_backward_data", diff_src, "diff_src", s);
  check_activation(src_act, "conv2d_backward_data");
  if (src_act != Activation::None) check_ptr("conv2d_backward_data", src, "src (for the derivative)", s);
  const detail::ConvVariant& v = detail::conv_select(active_isa(), s, detail::ConvPass::BackwardData);
  const trace::KernelScope scope([&] {
    const double srcs = src_act != Activation::None ? 2 : 1;
    return conv_call(v, s, join("bwd_data", detail::fusion_name(false, Activation::None, src_act)),
                     4 * (fl(s.params().n) * (fl(s.dst_image()) + srcs * fl(s.src_image())) + fl(s.weights_size())));
  });
  detail::conv2d_backward_data_run(v, s, diff_dst, weights, diff_src, src_act, src);
}

void conv2d_backward_weights(const ConvShape& s, const float* src, const float* diff_dst, float* diff_weights,
                             float* diff_bias, bool accumulate) {
  check_ptr("conv2d_backward_weights", src, "src", s);
  check_ptr("conv2d_backward_weights", diff_dst, "diff_dst", s);
  check_ptr("conv2d_backward_weights", diff_weights, "diff_weights", s);
  const detail::ConvVariant& v = detail::conv_select(active_isa(), s, detail::ConvPass::BackwardWeights);
  const trace::KernelScope scope([&] {
    return conv_call(v, s, "bwd_weights",
                     4 * (fl(s.params().n) * fl(s.src_image() + s.dst_image()) +
                          (accumulate ? 2 : 1) * fl(s.weights_size())));
  });
  detail::conv2d_backward_weights_run(v, s, src, diff_dst, diff_weights, diff_bias, accumulate);
}

}  // namespace nabla::kernels
