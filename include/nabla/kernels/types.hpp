#pragma once
/// \file types.hpp  Types shared by the kernel families: the activation
/// table (every element-wise activation nabla knows, described once), the
/// activation value the kernels and epilogues take, and the bias kinds.
///
/// Adding an activation: a kind in ActKind, its row in kActivations (same
/// order), its maths (SIMD forward and derivative, float64 reference) in
/// src/kernels/activation/activation_math.hpp, and its layer alias in
/// <nabla/nn/layers.hpp>. Everything else — the element-wise kernels, the
/// GEMM and convolution epilogues, kernel and layer names, the model-spec
/// grammar, the layer registry, the comparison's torch peer, the profiler
/// rows and the generic tests — reads the table.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nabla::kernels {

/// The element-wise activations, in the order of kActivations.
enum class ActKind : uint8_t { None, ReLU, Sigmoid, Tanh, ELU, LeakyReLU, GELU, GELUTanh, SiLU };

/// What an activation's derivative is computed from: its output A = f(Z)
/// ("use the output": ReLU, sigmoid, tanh, …, so only A is stored), or its
/// input, the pre-activation Z (GELU, SiLU: f' is not a function of f).
/// Every derivative D argument (activation_backward's dst, the GEMM
/// derivative epilogue's d, conv2d_backward_data's src) is A or Z by it.
enum class DerivFrom : uint8_t { Output, Input };

/// One row of the activation table.
struct ActivationInfo {
  ActKind kind;
  /// Kernel-name spelling (STYLE.md grammar): "relu" as in f32_bias_relu_avx512;
  /// also the model-spec token ("dense 64 relu", "relu").
  std::string_view name;
  /// The layer's class name in C++ and Python, and summary()'s word: "ReLU".
  std::string_view layer;
  /// The torch.nn module of the same function ("ReLU" for torch.nn.ReLU).
  std::string_view torch_module;
  /// The ATen operator of the same function ("relu", "leaky_relu"), what the
  /// comparison's libtorch peer calls.
  std::string_view torch_op;
  /// The parameter's name (torch's keyword: "negative_slope", "alpha"), or
  /// empty for an activation without one.
  std::string_view param;
  /// The parameter's default (torch's), and the smallest value the
  /// use-the-output derivative is valid for.
  float param_default, param_min;
  /// Cost per element: forward and derivative, in FLOP-equivalents (a
  /// transcendental counts 4), as the profiler and the kernels' cost
  /// estimates use it; transcendental activations are compute-bound.
  float fwd_flops, bwd_flops;
  bool transcendental;
  /// The torch.nn module's and ATen operator's string argument, for a
  /// variant that is one ("approximate", "tanh" for GELU's tanh form); else empty.
  std::string_view torch_str_param = {}, torch_str_value = {};
  /// What the derivative is computed from (see DerivFrom).
  DerivFrom deriv_from = DerivFrom::Output;
};

/// The table: one row per ActKind, in its order.
inline constexpr std::array<ActivationInfo, 9> kActivations = {{
    // kind           name       layer      torch     aten       param  def  min  fwd  bwd  transc.
    {ActKind::None, "none", "Identity", "Identity", "", "", 0.f, 0.f, 0.f, 0.f, false},
    {ActKind::ReLU, "relu", "ReLU", "ReLU", "relu", "", 0.f, 0.f, 1.f, 1.f, false},
    {ActKind::Sigmoid, "sigmoid", "Sigmoid", "Sigmoid", "sigmoid", "", 0.f, 0.f, 4.f, 3.f, true},
    {ActKind::Tanh, "tanh", "Tanh", "Tanh", "tanh", "", 0.f, 0.f, 4.f, 3.f, true},
    {ActKind::ELU, "elu", "ELU", "ELU", "elu", "alpha", 1.f, 0.f, 5.f, 2.f, true},
    {ActKind::LeakyReLU, "leakyrelu", "LeakyReLU", "LeakyReLU", "leaky_relu", "negative_slope", 0.01f, 0.f, 1.f, 1.f, false},
    //                                                                                  torch string arg      deriv from
    {ActKind::GELU, "gelu", "GELU", "GELU", "gelu", "", 0.f, 0.f, 8.f, 10.f, true, "", "", DerivFrom::Input},
    {ActKind::GELUTanh, "gelu_tanh", "GELUTanh", "GELU", "gelu", "", 0.f, 0.f, 8.f, 10.f, true, "approximate", "tanh", DerivFrom::Input},
    {ActKind::SiLU, "silu", "SiLU", "SiLU", "silu", "", 0.f, 0.f, 6.f, 8.f, true, "", "", DerivFrom::Input},
}};

namespace detail {
constexpr bool activation_table_in_order() {
  for (size_t i = 0; i < kActivations.size(); ++i)
    if (static_cast<size_t>(kActivations[i].kind) != i) return false;
  return true;
}
}  // namespace detail
static_assert(detail::activation_table_in_order(), "kActivations: one row per ActKind, in its order");

/// The row of a kind.
constexpr const ActivationInfo& activation_info(ActKind k) { return kActivations[static_cast<size_t>(k)]; }

/// Whether the kind's derivative is computed from its input Z (DerivFrom::Input).
constexpr bool derivative_uses_input(ActKind k) { return activation_info(k).deriv_from == DerivFrom::Input; }

/// Whether the kind takes a parameter.
constexpr bool has_param(ActKind k) { return !activation_info(k).param.empty(); }

/// An activation as the kernels take it: the kind and its parameter
/// (LeakyReLU's slope, ELU's alpha; ignored by kinds without one). A kind
/// converts to the activation with its default parameter, so
/// `Epilogue::bias_act(BiasKind::PerCol, b, ActKind::ReLU)` reads as before.
struct Activation {
  ActKind kind = ActKind::None;
  float param = 0.f;

  constexpr Activation() = default;
  constexpr Activation(ActKind k) : kind(k), param(activation_info(k).param_default) {}  // NOLINT: implicit
  constexpr Activation(ActKind k, float p) : kind(k), param(has_param(k) ? p : 0.f) {}

  /// Short spellings of the parameterless kinds (Activation::ReLU), as the
  /// API had them when Activation was an enum.
  static constexpr ActKind None = ActKind::None;
  static constexpr ActKind ReLU = ActKind::ReLU;
  static constexpr ActKind Sigmoid = ActKind::Sigmoid;
  static constexpr ActKind Tanh = ActKind::Tanh;

  /// The table row of the kind.
  constexpr const ActivationInfo& info() const { return activation_info(kind); }
  constexpr bool is_none() const { return kind == ActKind::None; }
  constexpr bool operator==(const Activation&) const = default;
};

/// Where a bias vector goes in a row-major matrix: one value per row (length
/// rows) or per column (length cols).
enum class BiasKind { None, PerRow, PerCol };

/// The kernel-name spelling of an activation's kind: "none", "relu", …
const char* activation_name(Activation a);

/// The activation with its parameter when it has one, for messages and
/// model specs: "relu", "leakyrelu 0.2".
std::string activation_label(Activation a);

/// The row whose name (= spec token) is `name`, or null.
const ActivationInfo* find_activation(std::string_view name);

/// Throws nabla::Error naming `where` when the kind is out of range or the
/// parameter is not finite or below the row's param_min.
void check_activation(Activation a, const char* where);

}  // namespace nabla::kernels
