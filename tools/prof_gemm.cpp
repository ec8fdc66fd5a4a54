// `nabla prof gemm`: the GEMM variants on training shapes.
#include <algorithm>
#include <cmath>
#include <memory>

#include "kernels/common/names.hpp"
#include "kernels/conv/conv_internal.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "kernels/gemm/gemm_shapes.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/activation.hpp"
#include "nabla/kernels/conv.hpp"
#include "nabla/kernels/gemm.hpp"
#include "nabla/kernels/loss.hpp"
#include "nabla/kernels/optim.hpp"
#include "prof_internal.hpp"

namespace nabla::cli {
namespace prof_detail {
namespace {

namespace nk = nabla::kernels;
namespace nkd = nabla::kernels::detail;

// ---- GEMM -------------------------------------------------------------------

const char* kGemmSyntax = "MxNxK[:nn|nt|tn|tt], e.g. 64x256x784:nt";

std::string gemm_shape_string(const GemmShape& s) {
  std::string out = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
  if (s.ta || s.tb) out += std::string(":") + (s.ta ? "t" : "n") + (s.tb ? "t" : "n");
  return out;
}

// The training shapes bench_gemm measures and the tuner tunes on
// (kTrainingGemmShapes), without the squares.
std::vector<std::string> gemm_defaults() {
  std::vector<std::string> v;
  for (const nkd::GemmShape& s : nkd::kTrainingGemmShapes)
    if (std::string_view(s.what) != "square") v.push_back(gemm_shape_string({s.m, s.n, s.k, s.ta, s.tb}));
  return v;
}

struct GemmData {
  GemmShape s;
  int64_t lda = 0, ldb = 0, ldc = 0;
  Buf a, b, c, ref;
  bool have_ref = false;
};

void gemm_cases(const std::string& text, const std::vector<Isa>& isas, std::vector<ProfCase>& out) {
  const GemmShape s = parse_gemm_shape(text);
  auto d = std::make_shared<GemmData>();
  d->s = s;
  check_elements({s.m, s.k}, text);
  check_elements({s.k, s.n}, text);
  check_elements({s.m, s.n}, text);
  d->lda = s.ta ? s.m : s.k;
  d->ldb = s.tb ? s.k : s.n;
  d->ldc = s.n;
  d->a = ints(s.m * s.k, 1);
  d->b = ints(s.k * s.n, 2);
  d->c = make_buf(s.m * s.n);
  nkd::GemmArgs g{s.ta, s.tb, s.m, s.n, s.k, 1.f, d->a->data(), d->lda, d->b->data(), d->ldb, 0.f,
                  d->c->data(), d->ldc, {}};
  const double fm = static_cast<double>(s.m), fn = static_cast<double>(s.n), fk = static_cast<double>(s.k);
  for (Isa isa : isas)
    for (const nkd::GemmVariant& v : nkd::gemm_variants(isa))
      for (const nkd::GemmPacking& pk : nkd::gemm_packings()) {
        GemmConfig cfg = gemm_config(isa);
        cfg.small_flops = pk.small_flops;
        // A packing applies when the driver really runs it for this shape
        // (an lda that is a multiple of 1024 floats packs A anyway).
        if (nkd::gemm_packs_a(cfg, g) != (pk.small_flops == 0)) continue;
        ProfCase c;
        c.variant = nkd::gemm_variant_name(v, pk);
        c.shape = gemm_shape_string(s);
        c.isa = isa;
        c.flops = 2 * fm * fn * fk;
        c.bytes = 4 * (fm * fk + fk * fn + fm * fn);
        c.out = std::span<float>(*d->c);
        c.prepare = [d] { std::fill(d->c->begin(), d->c->end(), std::numeric_limits<float>::quiet_NaN()); };
        c.run = [vp = &v, cfg, g] { nkd::gemm_run(*vp, cfg, g); };
        c.check = [d] {
          const GemmShape& s = d->s;
          if (!d->have_ref) {
            d->ref = make_buf(s.m * s.n);
            nk::gemm_reference(s.ta ? nk::Trans::Yes : nk::Trans::No, s.tb ? nk::Trans::Yes : nk::Trans::No, s.m, s.n,
                               s.k, 1.f, d->a->data(), d->lda, d->b->data(), d->ldb, 0.f, d->ref->data(), d->ldc);
            d->have_ref = true;
          }
          const bool exact = s.k < (int64_t{1} << 24);
          return compare(d->c->data(), d->ref->data(), s.m * s.n, exact ? 0 : 1e-5, exact ? 0 : 1e-3);
        };
        out.push_back(std::move(c));
      }
}

}  // namespace

const Family kGemmFamily = {"gemm", kGemmSyntax, gemm_defaults(), &gemm_cases};

}  // namespace prof_detail

using namespace prof_detail;

GemmShape parse_gemm_shape(const std::string& text) {
  const auto fail = [&] { throw Error("prof: bad gemm shape '" + text + "' (expected " + kGemmSyntax + ")"); };
  GemmShape s;
  std::string dims = text;
  const size_t colon = text.find(':');
  if (colon != std::string::npos) {
    const std::string t = text.substr(colon + 1);
    if (t.size() != 2 || (t[0] != 'n' && t[0] != 't') || (t[1] != 'n' && t[1] != 't')) fail();
    s.ta = t[0] == 't';
    s.tb = t[1] == 't';
    dims = text.substr(0, colon);
  }
  const auto parts = split(dims, 'x');
  if (parts.size() != 3) fail();
  s.m = parse_int(parts[0], "M", text);
  s.n = parse_int(parts[1], "N", text);
  s.k = parse_int(parts[2], "K", text);
  if (s.m < 1 || s.n < 1 || s.k < 1) throw Error("prof: gemm shape '" + text + "' has a zero size");
  return s;
}

}  // namespace nabla::cli
