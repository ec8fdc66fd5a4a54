#pragma once
// Internal to `nabla prof` (tools/prof_*.cpp): what the case builders, the
// runner, the model mode and the renderers share. The profiler's interface is
// prof.hpp; nothing outside tools/prof_*.cpp includes this.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "prof.hpp"

namespace nabla::cli::prof_detail {

using Buf = std::shared_ptr<std::vector<float>>;

constexpr int64_t kMaxElements = int64_t{1} << 28;  // per buffer: 1 GiB

// ---- helpers of the case builders (prof_cases.cpp) ----------------------------------

Buf make_buf(int64_t n);
// Whole numbers in [-1, 1]: every sum of products of them is exact in float
// below 2^24 terms, so a right GEMM or convolution matches the reference
// bitwise, whatever its summation order.
Buf ints(int64_t n, uint32_t seed);
Buf uniform(int64_t n, float lo, float hi, uint32_t seed);
// "" when got matches ref within |got − ref| <= rel·|ref| + abs, else the
// first mismatch and how many there are.
std::string compare(const float* got, const float* ref, int64_t n, double rel, double abs);
int64_t parse_int(const std::string& text, const std::string& what, const std::string& whole);
std::vector<std::string> split(const std::string& s, char sep);
void check_elements(std::initializer_list<int64_t> factors, const std::string& shape);

// ---- the families: one entry each (prof_gemm.cpp, prof_conv.cpp, prof_eltwise.cpp) ---

struct Family {
  const char* name;
  const char* syntax;
  std::vector<std::string> defaults;
  void (*cases)(const std::string& shape, const std::vector<Isa>& isas, std::vector<ProfCase>& out);
};

extern const Family kGemmFamily;
extern const Family kConvFamily;
extern const Family kEltwiseFamily;

// ---- limits, the figures of a row, timing (prof_run.cpp) ------------------------------

struct Roof {
  double peak = 0;
  std::vector<BandwidthPoint> bw;
  int threads = 1;
};

Roof roof_for(const MachineLimits& l, int threads);
double roof_gbs(const BandwidthPoint& p);
void fill_figures(ProfRow& row, const Roof& roof);
double median(std::vector<double> v);
double now();

// ---- model mode (prof_model.cpp) --------------------------------------------------------

void profile_model(const ProfOptions& o, ProfReport& r, const Roof& roof);

// ---- output (prof_render.cpp) -------------------------------------------------------------

std::string fmt(const char* f, double v);

}  // namespace nabla::cli::prof_detail
