#pragma once
/// \file trace.hpp  Tracing the kernel calls of a training step (`nabla prof
/// --model`).
///
/// A profiler installs a Sink; the kernel entry points (GEMM driver,
/// convolution passes, element-wise, pooling, loss and optimiser kernels)
/// open a KernelScope around their work, and Sequential opens a LayerScope
/// per layer and pass. With no sink installed a scope costs one relaxed
/// atomic load and allocates nothing: the description of the call is built
/// by a lambda that only runs when tracing.
///
/// Only the outermost kernel call is recorded: a GEMM that a convolution runs
/// (on any thread) is part of the convolution's event — unless the sink asks
/// for nested calls too (Sink::nested(); `nabla tune --model` collects the
/// GEMM shapes a network's convolutions run that way). Tracing assumes one
/// traced caller at a time (the layer context is per thread, the nesting
/// depth is global).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace nabla::trace {

/// Which part of a training step a kernel call belongs to.
enum class Pass { Forward, BackwardData, BackwardWeights, Loss, Optimiser };

/// "forward", "backward-data", "backward-weights", "loss", "optimiser".
const char* pass_name(Pass p);

/// What a kernel call is: its variant name (STYLE.md grammar), shape, and
/// the work it does (flops, compulsory bytes moved).
struct Call {
  std::string kernel;  ///< e.g. "f32_gemm_bias_relu_8x32_inplace_a_avx512"
  std::string shape;   ///< e.g. "64x256x784 nt"
  double flops = 0;
  double bytes = 0;
};

/// One recorded kernel call.
struct Event {
  int64_t layer = -1;      ///< index of the layer in the Sequential (-1: none)
  std::string layer_name;  ///< e.g. "Conv2D 1→6 5×5 pad 2 + ReLU" (empty: none)
  Pass pass = Pass::Forward;
  Call call;
  double seconds = 0;
  bool nested = false;     ///< made inside another kernel call (only for sinks that ask)
};

/// Receives the events. record() is called on the thread that made the call.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void record(Event e) = 0;
  /// true: also record the calls made inside another kernel call.
  virtual bool nested() const { return false; }
};

/// Installs a sink (nullptr: tracing off). The sink must outlive its use.
void set_sink(Sink* sink);

namespace detail {
extern std::atomic<Sink*> g_sink;
void open_layer(int64_t index, std::string name, Pass pass, int64_t& saved_index, std::string& saved_name,
                Pass& saved_pass);
void close_layer(int64_t index, std::string&& name, Pass pass);
Pass set_pass(Pass pass);
bool open_kernel();  // true: outermost call, to be timed
void close_kernel(bool outermost, bool recorded, Call&& call, double seconds);
}  // namespace detail

/// The installed sink (one relaxed atomic load).
inline Sink* active() { return detail::g_sink.load(std::memory_order_relaxed); }

/// Sets the layer and pass of the kernel calls made inside it on this thread.
class LayerScope {
 public:
  /// name() builds the layer's name; it only runs when tracing.
  template <class Name>
  LayerScope(int64_t index, Name&& name, Pass pass) {
    if (active()) {
      on_ = true;
      detail::open_layer(index, name(), pass, saved_index_, saved_name_, saved_pass_);
    }
  }
  ~LayerScope() {
    if (on_) detail::close_layer(saved_index_, std::move(saved_name_), saved_pass_);
  }
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  bool on_ = false;
  int64_t saved_index_ = -1;
  std::string saved_name_;
  Pass saved_pass_ = Pass::Forward;
};

/// Changes only the pass inside a layer (a layer's backward runs both the
/// backward-data and the backward-weights kernels).
class PassScope {
 public:
  explicit PassScope(Pass pass) {
    if (active()) {
      on_ = true;
      saved_ = detail::set_pass(pass);
    }
  }
  ~PassScope() {
    if (on_) detail::set_pass(saved_);
  }
  PassScope(const PassScope&) = delete;
  PassScope& operator=(const PassScope&) = delete;

 private:
  bool on_ = false;
  Pass saved_ = Pass::Forward;
};

/// Times one kernel call. describe() returns its Call; it only runs when
/// tracing, and only for the outermost call.
class KernelScope {
 public:
  template <class Describe>
  explicit KernelScope(Describe&& describe) {
    if (Sink* sink = active()) {
      traced_ = true;
      outermost_ = detail::open_kernel();
      recorded_ = outermost_ || sink->nested();
      if (recorded_) {
        call_ = describe();
        t0_ = std::chrono::steady_clock::now();
      }
    }
  }
  ~KernelScope() {
    if (!traced_) return;
    const double s = recorded_ ? std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count() : 0;
    detail::close_kernel(outermost_, recorded_, std::move(call_), s);
  }
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  bool traced_ = false, outermost_ = false, recorded_ = false;
  Call call_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace nabla::trace
