#pragma once
// oneDNN's three convolution primitives for one layer (bench_conv,
// nabla_compare): forward with bias + ReLU fused (as nabla's forward),
// backward-data, backward-weights with the bias gradient. The primitives
// run on memories in the formats they chose (format `any`), as a oneDNN
// framework runs a network; NCHW user memories (OIHW weights) hold the
// inputs and, after run(..., true), the results, with the reorders between.
#ifdef NABLA_HAVE_DNNL
#include <algorithm>
#include <cstdint>

#include <oneapi/dnnl/dnnl.hpp>

#include "nabla/kernels/conv.hpp"

namespace nabla_bench {

class DnnlConv {
 public:
  enum class Pass { Forward, BackwardData, BackwardWeights };

  /// src [n, c_in, h, w], w [c_out, c_in, kh, kw], b [c_out], dz [n, c_out, oh, ow] (copied).
  DnnlConv(const nabla::kernels::ConvParams& p, const float* src, const float* w, const float* b, const float* dz)
      : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const nabla::kernels::ConvShape s(p);
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

    auto user = [&](const memory::dims& d, tag t, const float* init) {
      const memory::desc md(d, memory::data_type::f32, t);
      memory m(md, eng_);
      float* dst = static_cast<float*>(m.get_data_handle());
      const size_t n = md.get_size() / sizeof(float);
      if (init) std::copy(init, init + n, dst);
      else std::fill(dst, dst + n, 0.f);
      return m;
    };
    u_src_ = user(src_d, tag::nchw, src);
    u_w_ = user(w_d, tag::oihw, w);
    u_b_ = user(b_d, tag::x, b);
    u_dz_ = user(dst_d, tag::nchw, dz);
    u_dst_ = user(dst_d, tag::nchw, nullptr);
    u_dsrc_ = user(src_d, tag::nchw, nullptr);
    u_dw_ = user(w_d, tag::oihw, nullptr);
    // Primitive-side memories, one per (primitive, argument), filled from the
    // user memories once so that the primitive-only runs see real data.
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

  /// One pass; with_reorders: from/to the NCHW user memories as well.
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
    }
    strm_.wait();
  }

  /// The NCHW results of the last run(..., true) of each pass.
  const float* dst() const { return static_cast<const float*>(u_dst_.get_data_handle()); }
  const float* dsrc() const { return static_cast<const float*>(u_dsrc_.get_data_handle()); }
  const float* dw() const { return static_cast<const float*>(u_dw_.get_data_handle()); }
  const float* db() const { return static_cast<const float*>(w_db_.get_data_handle()); }

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

}  // namespace nabla_bench
#endif  // NABLA_HAVE_DNNL
