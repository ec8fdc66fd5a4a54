// `nabla prof conv`: the convolution variants (forward, backward-data,
// backward-weights, bias) on the layers of the training networks.
#include <algorithm>
#include <cmath>
#include <memory>

#include "kernels/common/names.hpp"
#include "kernels/conv/conv_internal.hpp"
#include "kernels/conv/conv_shapes.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/loss.hpp"
#include "nabla/kernels/optim.hpp"
#include "prof_internal.hpp"

namespace nabla::cli::prof_detail {
namespace {

namespace nk = nabla::kernels;
namespace nkd = nabla::kernels::detail;

// ---- convolution ---------------------------------------------------------------

const char* kConvSyntax =
    "NxCxHxW,OxKHxKW[,sS|sSHxSW][,pP|pPHxPW][,dD|dDHxDW], e.g. 64x1x28x28,6x5x5,p2";

// The training layers bench_conv and nabla_compare time (kTrainingConvLayers).
std::vector<std::string> conv_defaults() {
  std::vector<std::string> v;
  for (const nkd::ConvLayer& l : nkd::kTrainingConvLayers) v.push_back(nkd::conv_shape_string(l.p));
  return v;
}


struct ConvData {
  explicit ConvData(const nk::ConvParams& p) : s(p) {}
  nk::ConvShape s;
  Buf src, w, bias, dz, dst, dsrc, dw, db;
  Buf ref_dst, ref_dsrc, ref_dw, ref_db;
};

void conv_cases(const std::string& text, const std::vector<Isa>& isas, std::vector<ProfCase>& out) {
  const nk::ConvParams p = parse_conv_shape(text);
  auto d = std::make_shared<ConvData>(p);  // validates (nabla::Error naming the values)
  const nk::ConvShape& s = d->s;
  const int64_t n_src = p.n * s.src_image(), n_dst = p.n * s.dst_image();
  check_elements({p.n, s.src_image()}, text);
  check_elements({p.n, s.dst_image()}, text);
  check_elements({s.col_rows(), s.col_cols()}, text);
  d->src = ints(n_src, 1);
  d->w = ints(s.weights_size(), 2);
  d->bias = ints(p.c_out, 3);
  d->dz = ints(n_dst, 4);
  d->dst = make_buf(n_dst);
  d->dsrc = make_buf(n_src);
  d->dw = make_buf(s.weights_size());
  d->db = make_buf(p.c_out);
  const double flops = 2.0 * static_cast<double>(p.n) * static_cast<double>(p.c_out) *
                       static_cast<double>(s.col_rows()) * static_cast<double>(s.col_cols());
  const double f_src = 4.0 * static_cast<double>(n_src), f_dst = 4.0 * static_cast<double>(n_dst),
               f_w = 4.0 * static_cast<double>(s.weights_size());
  // Exact while every reduction has fewer than 2^24 terms of magnitude <= 1.
  const bool exact = static_cast<double>(p.n) * static_cast<double>(s.col_cols()) < 0x1p24 &&
                     static_cast<double>(s.col_rows()) * static_cast<double>(p.c_out) < 0x1p24;
  const double rel = exact ? 0 : 1e-5, abs = exact ? 0 : 1e-3;
  const std::string shape = nkd::conv_shape_string(p);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : isas)
    for (const nkd::ConvVariant& v : nkd::conv_variants(isa)) {
      if (!v.applies(s)) continue;
      auto add = [&](const char* pass, double bytes, Buf result, std::function<void()> prepare, std::function<void()> run,
                     std::function<std::string()> check) {
        ProfCase c;
        c.variant = v.name;
        c.pass = pass;
        c.shape = shape;
        c.isa = isa;
        c.flops = flops;
        c.bytes = bytes;
        c.out = std::span<float>(*result);
        c.prepare = std::move(prepare);
        c.run = std::move(run);
        c.check = std::move(check);
        out.push_back(std::move(c));
      };
      const nkd::ConvVariant* vp = &v;
      add("forward", f_src + f_w + f_dst, d->dst, [d, nan] { std::fill(d->dst->begin(), d->dst->end(), nan); },
          [d, vp] {
            nkd::conv2d_forward_run(*vp, d->s, d->src->data(), d->w->data(), d->bias->data(), nk::Activation::None,
                                    d->dst->data());
          },
          [d, rel, abs] {
            if (!d->ref_dst) {
              d->ref_dst = make_buf(static_cast<int64_t>(d->dst->size()));
              nk::conv2d_forward_reference(d->s, d->src->data(), d->w->data(), d->bias->data(), nk::Activation::None,
                                           d->ref_dst->data());
            }
            return compare(d->dst->data(), d->ref_dst->data(), static_cast<int64_t>(d->dst->size()), rel, abs);
          });
      add("backward-data", f_dst + f_w + f_src, d->dsrc,
          [d, nan] { std::fill(d->dsrc->begin(), d->dsrc->end(), nan); },
          [d, vp] {
            nkd::conv2d_backward_data_run(*vp, d->s, d->dz->data(), d->w->data(), d->dsrc->data(), nk::Activation::None,
                                          nullptr);
          },
          [d, rel, abs] {
            if (!d->ref_dsrc) {
              d->ref_dsrc = make_buf(static_cast<int64_t>(d->dsrc->size()));
              nk::conv2d_backward_data_reference(d->s, d->dz->data(), d->w->data(), d->ref_dsrc->data());
            }
            return compare(d->dsrc->data(), d->ref_dsrc->data(), static_cast<int64_t>(d->dsrc->size()), rel, abs);
          });
      add("backward-weights", f_src + f_dst + f_w, d->dw,
          [d, nan] {
            std::fill(d->dw->begin(), d->dw->end(), nan);
            std::fill(d->db->begin(), d->db->end(), nan);
          },
          [d, vp] {
            nkd::conv2d_backward_weights_run(*vp, d->s, d->src->data(), d->dz->data(), d->dw->data(), d->db->data(),
                                             false);
          },
          [d, rel, abs] {
            if (!d->ref_dw) {
              d->ref_dw = make_buf(static_cast<int64_t>(d->dw->size()));
              d->ref_db = make_buf(static_cast<int64_t>(d->db->size()));
              nk::conv2d_backward_weights_reference(d->s, d->src->data(), d->dz->data(), d->ref_dw->data(),
                                                    d->ref_db->data(), false);
            }
            std::string e = compare(d->dw->data(), d->ref_dw->data(), static_cast<int64_t>(d->dw->size()), rel, abs);
            if (e.empty())
              e = compare(d->db->data(), d->ref_db->data(), static_cast<int64_t>(d->db->size()), rel, abs);
            return e;
          });
    }
}

}  // namespace

const Family kConvFamily = {"conv", kConvSyntax, conv_defaults(), &conv_cases};

}  // namespace nabla::cli::prof_detail

namespace nabla::cli {

kernels::ConvParams parse_conv_shape(const std::string& text) {
  const auto fail = [&] {
    throw Error("prof: bad conv shape '" + text + "' (expected " + prof_detail::kConvSyntax + ")");
  };
  const auto parts = prof_detail::split(text, ',');
  if (parts.size() < 2) fail();
  const auto in = prof_detail::split(parts[0], 'x'), w = prof_detail::split(parts[1], 'x');
  if (in.size() != 4 || w.size() != 3) fail();
  kernels::ConvParams p;
  p.n = prof_detail::parse_int(in[0], "batch", text);
  p.c_in = prof_detail::parse_int(in[1], "channel count", text);
  p.h = prof_detail::parse_int(in[2], "height", text);
  p.w = prof_detail::parse_int(in[3], "width", text);
  p.c_out = prof_detail::parse_int(w[0], "output channel count", text);
  p.kh = prof_detail::parse_int(w[1], "kernel height", text);
  p.kw = prof_detail::parse_int(w[2], "kernel width", text);
  for (size_t i = 2; i < parts.size(); ++i) {
    const std::string& opt = parts[i];
    if (opt.size() < 2) fail();
    const auto vals = prof_detail::split(opt.substr(1), 'x');
    if (vals.size() > 2) fail();
    const int64_t a = prof_detail::parse_int(vals[0], opt, text), b = vals.size() == 2 ? prof_detail::parse_int(vals[1], opt, text) : a;
    switch (opt[0]) {
      case 's': p.stride_h = a, p.stride_w = b; break;
      case 'p': p.pad_h = a, p.pad_w = b; break;
      case 'd': p.dil_h = a, p.dil_w = b; break;
      default: fail();
    }
  }
  return p;
}

}  // namespace nabla::cli
