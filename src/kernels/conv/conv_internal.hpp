#pragma once
// Internal interface between the convolution dispatcher (conv.cpp, generic
// flags) and the per-ISA kernels (conv_<isa>.cpp). Nothing here includes
// xsimd, and the kernels see only the plain ConvParams (no member function
// of the public header is compiled with an ISA's flags).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "nabla/kernels/conv.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The convolution family's kernels for one ISA. Each works on one image on
/// the calling thread; the dispatcher validates and splits.
struct ConvKernels {
  /// [C_in, H, W] → [C_in·kh·kw, OH·OW] (see nabla::kernels::im2col), the
  /// column rows ldc ≥ OH·OW apart.
  void (*im2col)(const ConvParams& p, int64_t oh, int64_t ow, const float* src, float* col, int64_t ldc);
  /// [C_in·kh·kw, OH·OW] → [C_in, H, W], overwriting dst; then, when f is
  /// not None, each finished channel plane is multiplied by f'(·) computed
  /// from act (same layout as dst). The column rows are ldc ≥ OH·OW apart.
  void (*col2im)(const ConvParams& p, int64_t oh, int64_t ow, const float* col, float* dst, Activation f,
                 const float* act, int64_t ldc);
  /// One input channel, stride 1, no dilation (see conv_kernels.hpp):
  /// dst [C_out, OH, OW] = f(bias + conv) from the zero-padded image (pitch
  /// w + 2·pad_w); bias may be null.
  void (*direct1_forward)(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* weights,
                          const float* bias, Activation f, float* dst);
  /// Whether direct1_forward_maxpool handles an output width.
  bool (*direct1_pools)(int64_t ow);
  /// direct1_forward followed by a 2×2 stride-2 max pool (oh, ow even,
  /// direct1_pools(ow)): dst, idx [C_out, oh/2, ow/2] as
  /// max_pool2d_forward's (idx h·ow + w in the output plane).
  void (*direct1_forward_maxpool)(const ConvParams& p, int64_t oh, int64_t ow, const float* padded,
                                  const float* weights, const float* bias, Activation f, float* dst, int32_t* idx);
  /// dw [C_out, kh·kw] += the weight gradient of one image from dz [C_out,
  /// OH, OW], and db [C_out] += its bias gradient when db is not null.
  void (*direct1_backward_weights)(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* dz,
                                   float* dw, float* db);
  /// direct1_backward_weights with dz the scatter of a 2×2 stride-2 max
  /// pool's gradient g through its arg-max idx [C_out, OH/2, OW/2] (OH, OW
  /// even), never written out.
  void (*direct1_backward_weights_pooled)(const ConvParams& p, int64_t oh, int64_t ow, const float* padded,
                                          const float* g, const int32_t* idx, float* dw, float* db);
  /// dst [planes, rows, cols] = the first cols floats of each pitch-wide
  /// row of src (planes ld_src apart): the implicit path's GEMM result on
  /// the padded pitch, without its wasted columns; then, when f is not
  /// None, dst ⊙= f'(act) (act laid out like dst).
  void (*unpitch)(int64_t planes, int64_t rows, int64_t cols, int64_t pitch, int64_t ld_src, const float* src,
                  float* dst, Activation f, const float* act);
  /// One image [planes, h, w] → its zero-padded phase planes [planes, sh,
  /// sw, hq, wq]: phase (α, β) holds padded[α + sh·u, β + sw·v] (the
  /// implicit path, conv.cpp's ImplicitLayout; stride 1: the zero-padded
  /// image itself).
  void (*phase_split)(int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t sh, int64_t sw,
                      int64_t hq, int64_t wq, const float* src, float* dst);
  /// Stride 2: rows of w inputs from their two column phases, input x of
  /// row t from phase (x + pw) mod 2 at S = (x + pw) div 2: even[t·ld_src +
  /// S − e0] or odd[t·ld_src + S − o0] (null: zeros), into dst (rows ld_dst
  /// apart), every element written once.
  void (*phase_join)(int64_t rows, int64_t w, int64_t pw, const float* even, int64_t e0, const float* odd,
                     int64_t o0, int64_t ld_src, float* dst, int64_t ld_dst);
  /// Winograd F(2×2, 3×3) input transform of one image (conv.cpp's
  /// winograd_run): src [planes, h, w] zero-padded by ph, pw (and up to
  /// 2·th + 2 rows, 2·tw + 2 columns), cut into th×tw tiles of 4×4, 2
  /// apart; tile t = ty·tw + tx → v[(ξ·planes + c)·ld + t] = (Bᵀ d B)[ξ / 4]
  /// [ξ % 4], ξ < 16. scratch: wino_scratch_floats(th, tw) floats.
  void (*wino_input)(int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t th, int64_t tw,
                     const float* src, float* scratch, float* v, int64_t ld);
  /// Winograd output transform of one image: the 16 GEMM results
  /// m[(ξ·planes + o)·ld + t] → dst [planes, oh, ow], tile t's 2×2 block
  /// Aᵀ m A at (2·ty, 2·tx) (rows and columns past oh, ow dropped); then,
  /// with act null, dst = f(dst + bias[o]) (bias may be null), else dst =
  /// dst · f'(·) from act (laid out like dst; bias unused). m is read up
  /// to kDirectSlack floats past plane 15's last tile; scratch:
  /// wino_scratch_floats(th, tw) floats.
  void (*wino_output)(int64_t planes, int64_t oh, int64_t ow, int64_t th, int64_t tw, const float* m, int64_t ld,
                      const float* bias, Activation f, const float* act, float* dst, float* scratch);
  /// wino_output (act null) followed by a 2×2 stride-2 max pool, for even
  /// oh, ow: dst, idx [planes, oh/2 · ow/2] as max_pool2d_forward's (idx
  /// h·ow + w in the convolution's output plane); base [tiles + a vector]
  /// holds tile t's first output index 2·(t / tw)·ow + 2·(t % tw).
  void (*wino_output_maxpool)(int64_t planes, int64_t ow, int64_t tiles, const float* m, int64_t ld,
                              const float* bias, Activation f, const int32_t* base, float* dst, int32_t* idx);
  /// Winograd weight gradient, the transform of one image's dZ [planes,
  /// oh, ow]: tile t's 2×2 block dy (zero past oh, ow) → m[(ξ·planes +
  /// o)·ld + t] = (A dy Aᵀ)[ξ / 4][ξ % 4], A = (Aᵀ)ᵀ of wino_output.
  /// scratch: wino_scratch_floats(th, tw) floats.
  void (*wino_grad_output)(int64_t planes, int64_t oh, int64_t ow, int64_t th, int64_t tw, const float* dy,
                           float* scratch, float* m, int64_t ld);
  /// Direct forward with output channels in the vector (stride 1, no
  /// dilation; conv_kernels.hpp): padded [C_in, h + 2·ph, w + 2·pw] plus
  /// kDirectSlack floats → dst [C_out, OH, OW] = f(bias + conv); wt the
  /// weights as directc_pack lays them out; bias may be null.
  void (*directc_forward)(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* wt,
                          const float* bias, Activation f, float* dst);
  /// weights [C_out, C_in, kh, kw] → wt [⌈C_out/lanes⌉][C_in·kh·kw][lanes]
  /// (zero lanes past C_out), 64-byte aligned.
  void (*directc_pack)(const ConvParams& p, const float* weights, float* wt);
  /// One image's weight and bias gradients in directc_pack's layout, added
  /// to dwt [⌈C_out/lanes⌉][C_in·kh·kw][lanes] and dbt [⌈C_out/lanes⌉]
  /// [lanes] (zero lanes past C_out); padded as directc_forward's, dz
  /// [C_out, OH·OW]. Only for kernel widths directc_grads accepts.
  void (*directc_backward_weights)(const ConvParams& p, int64_t oh, int64_t ow, const float* padded, const float* dz,
                                   float* dwt, float* dbt);
  int64_t lanes;  ///< floats per vector
};

/// The kernel widths directc_backward_weights has register blocks for.
inline bool directc_grads(int64_t kw) { return kw == 3 || kw == 5; }

/// Slack in floats past the padded image that the direct kernels may read
/// (the last vector of a row runs past the row's end; at least one vector).
inline constexpr int64_t kDirectSlack = 64;

/// Floats of the scratch the Winograd transforms of a th×tw-tile image take
/// (conv_kernels.hpp: two sets of eight row-transformed planes of th + 1
/// tile rows, or of the output's four planes of th·tw tiles), each with a
/// vector's slack.
inline int64_t wino_scratch_floats(int64_t th, int64_t tw) {
  const int64_t in = 16 * ((th + 1) * tw + kDirectSlack);
  const int64_t out = 8 * (th * tw + kDirectSlack);
  return in > out ? in : out;
}

// Defined in conv_<isa>.cpp.
const ConvKernels& conv_kernels_avx512();
const ConvKernels& conv_kernels_avx2();
const ConvKernels& conv_kernels_sse2();

/// The kernels for an ISA.
const ConvKernels& conv_kernels(Isa isa);

/// How a convolution runs its passes.
enum class ConvAlgo {
  Im2colGemm,  ///< im2col per image, then GEMM (col2im after the backward-data GEMM)
  Pointwise,   ///< the image is the column matrix: GEMM only (f' fused in its epilogue)
  Direct1,     ///< one input channel: direct forward and backward-weights; backward-data as im2col
  Implicit,    ///< GEMM on the padded (stride > 1: phase-split) image through row offsets (no column
               ///< matrix); stride-1 backward-data as the forward convolution of the padded dZ with the
               ///< flipped weights, strided backward-data as one such GEMM per input phase (no col2im)
  DirectC,     ///< stride 1: direct forward and (3- and 5-wide kernels) backward-weights with output
               ///< channels in the vector; backward-data as im2col
  Winograd,    ///< 3×3 stride 1: Winograd F(2×2, 3×3), 16 GEMMs over transformed tiles of several images
               ///< (forward; backward-data the same on dZ with the flipped weights; backward-weights as
               ///< 16 GEMMs over the tiles of the transformed dZ and input, then Gᵀ dU G)
};

/// A convolution pass.
enum class ConvPass { Forward, BackwardData, BackwardWeights };

/// One convolution variant: an algorithm for one ISA, and the shapes it
/// applies to. The lists are ordered by preference; conv2d_* run what
/// conv_select says (the tuning profile's choice, else the first variant of
/// the active ISA that applies and is preferred), the tests run every
/// variant on every shape it applies to, and `nabla prof conv` and `nabla
/// tune --model` time each.
struct ConvVariant {
  const char* name;  ///< e.g. "f32_conv_1x1_avx512"
  const char* tag;   ///< the algorithm's part of the name: "1x1"
  Isa isa;
  ConvAlgo algo;
  bool (*applies)(const ConvShape& s);
  /// Where conv_select takes this variant for a pass (null: wherever it
  /// applies); the tests and the profiler run it wherever it applies.
  bool (*preferred)(const ConvShape& s, ConvPass pass) = nullptr;
};

/// The variants of an ISA, preferred first (defined in conv.cpp; adding one
/// is one line there).
std::span<const ConvVariant> conv_variants(Isa isa);
/// "forward", "backward-data", "backward-weights" (as `nabla prof` and the
/// tuning profile write them).
const char* conv_pass_name(ConvPass pass);
/// The pass conv_pass_name names, or none.
std::optional<ConvPass> conv_pass_from_name(std::string_view name);

/// The fixed rule: the first variant of the ISA that applies to s and is
/// preferred for it and the pass.
const ConvVariant& conv_default(Isa isa, const ConvShape& s, ConvPass pass);
/// The variant conv2d_* run for a pass: the tuning profile's choice for
/// exactly this shape and pass (nabla::ConvChoice, `nabla tune --model`)
/// when it names a variant of the ISA that applies, else conv_default.
/// Does not allocate once the profile's choices are looked up.
const ConvVariant& conv_select(Isa isa, const ConvShape& s, ConvPass pass);

/// The passes with a given variant (which must apply to s); arguments as
/// the public conv2d_* functions, already validated. The GEMMs run on the
/// active ISA; im2col/col2im on the variant's.
void conv2d_forward_run(const ConvVariant& v, const ConvShape& s, const float* src, const float* weights,
                        const float* bias, Activation act, float* dst);
/// True when variant v pools in its forward output transform (Winograd on
/// an even output size); conv2d_forward_maxpool_run is then one pass.
bool fuses_maxpool(const ConvVariant& v, const ConvShape& s);
/// True when variant v's weight gradient reads a following 2×2 stride-2
/// max pool's gradient and arg-max directly (the one-channel direct kernel
/// on an even output size); conv2d_backward_weights_run with pool_idx
/// otherwise scatters them into scratch first.
bool fuses_maxpool_grad(const ConvVariant& v, const ConvShape& s);
/// conv2d_forward_maxpool with variant v (fused where fuses_maxpool, else
/// the convolution into scratch and then max_pool2d_forward).
void conv2d_forward_maxpool_run(const ConvVariant& v, const ConvShape& s, const float* src, const float* weights,
                                const float* bias, Activation act, float* dst, int32_t* idx);
void conv2d_backward_data_run(const ConvVariant& v, const ConvShape& s, const float* diff_dst,
                              const float* weights, float* diff_src, Activation src_act, const float* src);
void conv2d_backward_weights_run(const ConvVariant& v, const ConvShape& s, const float* src,
                                 const float* diff_dst, float* diff_weights, float* diff_bias, bool accumulate, const int32_t* pool_idx = nullptr);

/// A shape as `nabla prof conv --shape` writes it:
/// NxCxHxW,OxKHxKW[,sS|sSHxSW][,pP|pPHxPW][,dD|dDHxDW] (stride, padding,
/// dilation only when not 1, 0, 1), e.g. "64x1x28x28,6x5x5,p2".
std::string conv_shape_string(const ConvParams& p);

}  // namespace nabla::kernels::detail
