#pragma once
// Kernel-variant names in the grammar of STYLE.md: f32_<op>[_<fusion>]_<isa>
// ("f32_relu_avx512", "f32_bias_sigmoid_avx2", "f32_maxpool_bwd_sse2").
// The element-wise families (activation, loss, pool, optimiser) have one
// variant per ISA, their per-ISA kernel table; the GEMM and convolution
// lists name theirs the same way (gemm_internal.hpp, conv_internal.hpp).
#include <string>
#include <string_view>

#include "nabla/kernels/types.hpp"
#include "nabla/runtime/cpu.hpp"

namespace nabla::kernels::detail {

/// The ISA as variant names spell it: "avx512", "avx2", "sse2".
inline const char* isa_suffix(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Generic: return "sse2";
  }
  return "sse2";
}

/// A kernel name built from its parts, in the grammar of STYLE.md:
/// f32_<op>[_<fusion>][_<tile>][_<packing>]_<isa>, e.g.
/// {"gemm", "bias_relu", "8x32", "inplace_a", Avx512} →
/// "f32_gemm_bias_relu_8x32_inplace_a_avx512". Empty parts are left out.
struct KernelName {
  std::string op, fusion, tile, packing;
  Isa isa = Isa::Generic;
  std::string str() const {
    std::string s = "f32_" + op;
    for (const std::string* part : {&fusion, &tile, &packing})
      if (!part->empty()) s += "_" + *part;
    return s + "_" + isa_suffix(isa);
  }
};

/// The fusion part of a name: "bias", the activation ("relu") or its
/// derivative ("drelu"), joined by '_'; empty for none.
inline std::string fusion_name(bool bias, Activation act, Activation deriv) {
  std::string s = bias ? "bias" : "";
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : "_") + part; };
  if (!act.is_none()) add(activation_name(act));
  if (!deriv.is_none()) add(std::string("d") + activation_name(deriv));
  return s;
}

/// "f32_" + op + "_" + isa suffix.
inline std::string variant_name(std::string_view op, Isa isa) {
  std::string s = "f32_";
  s += op;
  s += '_';
  s += isa_suffix(isa);
  return s;
}

/// The op of an element-wise activation pass: "relu", "bias_relu", "bias"
/// (bias only), "identity" (neither); backward appends "_bwd".
inline std::string activation_op(Activation f, bool bias, bool backward) {
  std::string op = fusion_name(bias, f, Activation::None);
  if (op.empty()) op = "identity";
  return backward ? op + "_bwd" : op;
}

}  // namespace nabla::kernels::detail
