// `nabla prof`: what every family's case builder uses (buffers, the
// comparison with the reference, shape parsing), the family table, and
// prof_cases().
#include <charconv>
#include <cmath>
#include <cstdio>
#include <random>

#include "nabla/error.hpp"
#include "prof_internal.hpp"

namespace nabla::cli {
namespace prof_detail {

Buf make_buf(int64_t n) { return std::make_shared<std::vector<float>>(static_cast<size_t>(n)); }

Buf ints(int64_t n, uint32_t seed) {
  Buf b = make_buf(n);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-1, 1);
  for (float& x : *b) x = static_cast<float>(d(rng));
  return b;
}

Buf uniform(int64_t n, float lo, float hi, uint32_t seed) {
  Buf b = make_buf(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& x : *b) x = d(rng);
  return b;
}

std::string compare(const float* got, const float* ref, int64_t n, double rel, double abs) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got[i], r = ref[i];
    const bool same = (std::isnan(g) && std::isnan(r)) || std::fabs(g - r) <= rel * std::fabs(r) + abs;
    if (!same && bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld of %lld values differ from the reference (first [%lld] = %g, expected %g)",
                static_cast<long long>(bad), static_cast<long long>(n), static_cast<long long>(first),
                static_cast<double>(got[first]), static_cast<double>(ref[first]));
  return buf;
}

int64_t parse_int(const std::string& text, const std::string& what, const std::string& whole) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || v < 0)
    throw Error("prof: bad " + what + " '" + text + "' in shape '" + whole + "'");
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

void check_elements(std::initializer_list<int64_t> factors, const std::string& shape) {
  int64_t r = 1;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(r, f, &r) || r > kMaxElements)
      throw Error("prof: shape '" + shape + "' needs a buffer of more than 2^28 floats");
}

}  // namespace prof_detail

namespace {

using namespace prof_detail;

// ---- the family table: one entry per family -------------------------------------

const Family* const kFamilies[] = {&kGemmFamily, &kConvFamily, &kEltwiseFamily};

const Family& find_family(const std::string& name) {
  for (const Family* f : kFamilies)
    if (name == f->name) return *f;
  throw Error("prof: unknown family '" + name + "' (gemm, conv or eltwise; or --model SPEC)");
}

}  // namespace

std::vector<ProfCase> prof_cases(const std::string& family, const std::vector<std::string>& shapes,
                                 const std::vector<Isa>& isas) {
  const Family& f = find_family(family);
  std::vector<ProfCase> cases;
  if (shapes.empty())
    for (const std::string& s : f.defaults) f.cases(s, isas, cases);
  for (const std::string& s : shapes) f.cases(s, isas, cases);
  return cases;
}

}  // namespace nabla::cli
