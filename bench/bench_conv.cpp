// Convolution benchmark: nabla against oneDNN's convolution primitives on
// the three layers of the convolution issue, batch 64, at 1 and 2 threads,
// interleaved in one run. Passes: forward (bias + ReLU fused in both
// libraries), backward-data, backward-weights (with the bias gradient), and
// `train` = the passes one training step runs for the layer: forward +
// backward-weights, plus backward-data except for conv1 (the first layer of
// its network: nobody needs the gradient of the input images).
//
//   bench_conv --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// Two oneDNN rows per case:
//   onednn       the primitives on memory already in the formats they chose
//                (format `any`), as a oneDNN framework runs a network;
//   onednn_nchw  the same plus the reorders from/to NCHW user memory (OIHW
//                weights) that nabla never needs, since it works on NCHW.
// The summary's ratio is onednn_time / nabla_time against the first (> 1:
// nabla is faster); GFLOP/s count 2·N·C_out·C_in·kh·kw·OH·OW per pass.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "median_reporter.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/runtime/threads.hpp"

#ifdef NABLA_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

namespace nk = nabla::kernels;

struct Layer {
  const char* name;
  nk::ConvParams p;
  bool first;  // first layer of its network: training skips backward-data
};

const Layer kLayers[] = {
    {"conv1_1x28x28_6x5x5", {.n = 64, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5, .kw = 5}, true},
    {"conv2_6x12x12_16x5x5", {.n = 64, .c_in = 6, .h = 12, .w = 12, .c_out = 16, .kh = 5, .kw = 5}, false},
    {"conv3_32x28x28_64x3x3p1",
     {.n = 64, .c_in = 32, .h = 28, .w = 28, .c_out = 64, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1},
     false},
};

enum class Pass { Forward, BackwardData, BackwardWeights, Train };
const Pass kPasses[] = {Pass::Forward, Pass::BackwardData, Pass::BackwardWeights, Pass::Train};
const char* pass_name(Pass p) {
  switch (p) {
    case Pass::Forward: return "fwd";
    case Pass::BackwardData: return "bwd_data";
    case Pass::BackwardWeights: return "bwd_weights";
    case Pass::Train: return "train";
  }
  return "?";
}

bool runs(Pass pass, Pass part, const Layer& l) {
  if (pass == Pass::Train) return part != Pass::BackwardData || !l.first;
  return pass == part;
}

double pass_flops(const Layer& l, Pass pass) {
  const nk::ConvShape s(l.p);
  const double one = 2.0 * l.p.n * static_cast<double>(s.weights_size()) * static_cast<double>(s.col_cols());
  if (pass != Pass::Train) return one;
  return one * (l.first ? 2 : 3);
}

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

void report(benchmark::State& state, const Layer& l, Pass pass) {
  state.counters["GFLOPS"] =
      benchmark::Counter(pass_flops(l, pass) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate);
}

void BM_nabla(benchmark::State& state, Layer l, Pass pass, int threads) {
  nabla::set_num_threads(threads);
  const nk::ConvShape s(l.p);
  const int64_t n_src = l.p.n * s.src_image(), n_dst = l.p.n * s.dst_image();
  const auto src = random_vector(n_src, 1), w = random_vector(s.weights_size(), 2), b = random_vector(l.p.c_out, 3),
             dz = random_vector(n_dst, 4);
  std::vector<float> dst(n_dst), dsrc(n_src), dw(w.size()), db(b.size());
  auto step = [&] {
    if (runs(pass, Pass::Forward, l))
      nk::conv2d_forward(s, src.data(), w.data(), b.data(), nk::Activation::ReLU, dst.data());
    if (runs(pass, Pass::BackwardData, l)) nk::conv2d_backward_data(s, dz.data(), w.data(), dsrc.data());
    if (runs(pass, Pass::BackwardWeights, l))
      nk::conv2d_backward_weights(s, src.data(), dz.data(), dw.data(), db.data());
  };
  step();  // warm-up: column buffers, thread pool
  for (auto _ : state) {
    step();
    benchmark::ClobberMemory();
  }
  report(state, l, pass);
}

#ifdef NABLA_HAVE_DNNL
// oneDNN's three primitives for a layer, their memories in the formats the
// primitives chose, and NCHW user memories with the reorders between them.
class DnnlLayer {
 public:
  explicit DnnlLayer(const Layer& l) : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const nk::ConvShape s(l.p);
    const auto& p = l.p;
    const memory::dims src_d = {p.n, p.c_in, p.h, p.w}, w_d = {p.c_out, p.c_in, p.kh, p.kw}, b_d = {p.c_out},
                       dst_d = {p.n, p.c_out, s.oh(), s.ow()}, strides = {p.stride_h, p.stride_w},
                       pad = {p.pad_h, p.pad_w}, dil = {p.dil_h - 1, p.dil_w - 1};
    auto any = [](const memory::dims& d) { return memory::desc(d, memory::data_type::f32, tag::any); };
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             any(src_d), any(w_d), any(b_d), any(dst_d), strides, dil, pad, pad);
    const dnnl::convolution_forward::primitive_desc fpd(fd, attr, eng_);
    const dnnl::convolution_backward_data::desc dd(dnnl::algorithm::convolution_direct, any(src_d), any(w_d),
                                                   any(dst_d), strides, dil, pad, pad);
    const dnnl::convolution_backward_data::primitive_desc dpd(dd, eng_, fpd);
    const dnnl::convolution_backward_weights::desc wd(dnnl::algorithm::convolution_direct, any(src_d), any(w_d),
                                                      any(b_d), any(dst_d), strides, dil, pad, pad);
    const dnnl::convolution_backward_weights::primitive_desc wpd(wd, eng_, fpd);
    fwd_ = dnnl::convolution_forward(fpd);
    bwd_data_ = dnnl::convolution_backward_data(dpd);
    bwd_weights_ = dnnl::convolution_backward_weights(wpd);

    auto user = [&](const memory::dims& d, tag t, uint32_t seed) {
      const memory::desc md(d, memory::data_type::f32, t);
      memory m(md, eng_);
      const auto v = random_vector(static_cast<int64_t>(md.get_size() / sizeof(float)), seed);
      std::copy(v.begin(), v.end(), static_cast<float*>(m.get_data_handle()));
      return m;
    };
    u_src_ = user(src_d, tag::nchw, 1);
    u_w_ = user(w_d, tag::oihw, 2);
    u_b_ = user(b_d, tag::x, 3);
    u_dz_ = user(dst_d, tag::nchw, 4);
    u_dst_ = user(dst_d, tag::nchw, 5);
    u_dsrc_ = user(src_d, tag::nchw, 6);
    u_dw_ = user(w_d, tag::oihw, 7);
    // Primitive-side memories, one per (primitive, argument), filled from the
    // user memories once so that the primitive-only rows see real data.
    f_src_ = mirror(u_src_, fpd.src_desc());
    f_w_ = mirror(u_w_, fpd.weights_desc());
    f_dst_ = memory(fpd.dst_desc(), eng_);
    d_dz_ = mirror(u_dz_, dpd.diff_dst_desc());
    d_w_ = mirror(u_w_, dpd.weights_desc());
    d_dsrc_ = memory(dpd.diff_src_desc(), eng_);
    w_src_ = mirror(u_src_, wpd.src_desc());
    w_dz_ = mirror(u_dz_, wpd.diff_dst_desc());
    w_dw_ = memory(wpd.diff_weights_desc(), eng_);
    w_db_ = memory(wpd.diff_bias_desc(), eng_);
  }

  // One pass; with_reorders: from/to the NCHW user memories as well.
  void run(Pass part, bool with_reorders) {
    switch (part) {
      case Pass::Forward:
        if (with_reorders) copy(u_src_, f_src_), copy(u_w_, f_w_);
        fwd_.execute(strm_, {{DNNL_ARG_SRC, f_src_}, {DNNL_ARG_WEIGHTS, f_w_}, {DNNL_ARG_BIAS, u_b_},
                             {DNNL_ARG_DST, f_dst_}});
        if (with_reorders) copy(f_dst_, u_dst_);
        break;
      case Pass::BackwardData:
        if (with_reorders) copy(u_dz_, d_dz_), copy(u_w_, d_w_);
        bwd_data_.execute(strm_, {{DNNL_ARG_DIFF_DST, d_dz_}, {DNNL_ARG_WEIGHTS, d_w_}, {DNNL_ARG_DIFF_SRC, d_dsrc_}});
        if (with_reorders) copy(d_dsrc_, u_dsrc_);
        break;
      case Pass::BackwardWeights:
        if (with_reorders) copy(u_src_, w_src_), copy(u_dz_, w_dz_);
        bwd_weights_.execute(strm_, {{DNNL_ARG_SRC, w_src_}, {DNNL_ARG_DIFF_DST, w_dz_},
                                     {DNNL_ARG_DIFF_WEIGHTS, w_dw_}, {DNNL_ARG_DIFF_BIAS, w_db_}});
        if (with_reorders) copy(w_dw_, u_dw_);
        break;
      case Pass::Train: break;
    }
    strm_.wait();
  }

 private:
  // A reorder when the formats differ (the same memory object otherwise).
  void copy(dnnl::memory& from, dnnl::memory& to) {
    if (from.get_data_handle() != to.get_data_handle()) dnnl::reorder(from, to).execute(strm_, from, to);
  }
  dnnl::memory mirror(dnnl::memory& user, const dnnl::memory::desc& md) {
    if (md == user.get_desc()) return user;
    dnnl::memory m(md, eng_);
    copy(user, m);
    strm_.wait();
    return m;
  }

  dnnl::engine eng_;
  dnnl::stream strm_;
  dnnl::primitive fwd_, bwd_data_, bwd_weights_;
  dnnl::memory u_src_, u_w_, u_b_, u_dz_, u_dst_, u_dsrc_, u_dw_;
  dnnl::memory f_src_, f_w_, f_dst_, d_dz_, d_w_, d_dsrc_, w_src_, w_dz_, w_dw_, w_db_;
};

void BM_dnnl(benchmark::State& state, Layer l, Pass pass, int threads, bool with_reorders) {
  omp_set_num_threads(threads);
  DnnlLayer d(l);
  auto step = [&] {
    for (Pass part : {Pass::Forward, Pass::BackwardData, Pass::BackwardWeights})
      if (runs(pass, part, l)) d.run(part, with_reorders);
  };
  step();  // warm-up: JIT, thread pool
  for (auto _ : state) step();
  report(state, l, pass);
}
#endif

std::string case_name(const Layer& l, Pass pass, int threads) {
  return std::string("conv/") + l.name + "/" + pass_name(pass) + "/threads:" + std::to_string(threads) + "/";
}

// Console output as usual, then a summary: per layer, pass and thread
// count, milliseconds per call of nabla and of oneDNN, and the ratio
// onednn / nabla (> 1: nabla is faster).
class SummaryReporter : public nabla_bench::MedianReporter {
 public:
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nSummary (ms per call; ratio = oneDNN / nabla, > 1 means nabla is faster; onednn: primitives "
                "alone, onednn_nchw: with reorders from/to NCHW)\n");
    std::printf("%-26s %-12s %3s %9s %9s %6s %12s %6s\n", "layer", "pass", "thr", "nabla", "onednn", "ratio",
                "onednn_nchw", "ratio");
    for (const Layer& l : kLayers)
      for (Pass pass : kPasses)
        for (int t : {1, 2}) {
          const std::string base = case_name(l, pass, t);
          auto get = [&](const std::string& lib) { return real_time(base + lib); };
          const double nb = get("nabla"), dn = get("onednn"), dr = get("onednn_nchw");
          if (std::isnan(nb)) continue;
          std::printf("%-26s %-12s %3d %9.3f %9.3f %6.2f %12.3f %6.2f\n", l.name, pass_name(pass), t, nb, dn,
                      dn / nb, dr, dr / nb);
        }
  }

};

}  // namespace

int main(int argc, char** argv) {
  for (const Layer& l : kLayers)
    for (Pass pass : kPasses)
      for (int t : {1, 2}) {
        const std::string base = case_name(l, pass, t);
        benchmark::RegisterBenchmark((base + "nabla").c_str(), BM_nabla, l, pass, t)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
#ifdef NABLA_HAVE_DNNL
        benchmark::RegisterBenchmark((base + "onednn").c_str(), BM_dnnl, l, pass, t, false)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark((base + "onednn_nchw").c_str(), BM_dnnl, l, pass, t, true)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
#endif
      }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
