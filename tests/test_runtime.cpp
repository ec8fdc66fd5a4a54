// Runtime layer: CPU facts, ISA selection, thread control, GEMM configuration.
#include <gtest/gtest.h>

#include <cstdlib>

#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/nabla.hpp"

namespace {

TEST(CpuInfo, ReportsPlausibleFacts) {
  const nabla::CpuInfo& info = nabla::cpu_info();
  EXPECT_FALSE(info.vendor.empty());
  EXPECT_FALSE(info.model.empty());
  EXPECT_GE(info.physical_cores, 1);
  EXPECT_GE(info.logical_cpus, info.physical_cores);
  EXPECT_GE(info.l1d_bytes, 4 << 10);
  EXPECT_GE(info.l2_bytes, info.l1d_bytes);
  EXPECT_TRUE(info.l3_bytes == 0 || info.l3_bytes >= info.l2_bytes);
}

TEST(Isa, NamesRoundTrip) {
  for (nabla::Isa isa : {nabla::Isa::Generic, nabla::Isa::Avx2, nabla::Isa::Avx512})
    EXPECT_EQ(nabla::parse_isa(nabla::isa_name(isa)), isa);
  EXPECT_THROW(nabla::parse_isa("avx1024"), nabla::Error);
}

TEST(Isa, SetIsaLowersAndRejectsUnsupported) {
  const nabla::Isa best = nabla::cpu_info().best_isa;
  const nabla::Isa before = nabla::active_isa();
  nabla::set_isa(nabla::Isa::Generic);
  EXPECT_EQ(nabla::active_isa(), nabla::Isa::Generic);
  nabla::set_isa(best);
  EXPECT_EQ(nabla::active_isa(), best);
  if (best != nabla::Isa::Avx512) {
    try {
      nabla::set_isa(nabla::Isa::Avx512);
      FAIL() << "set_isa(avx512) on a CPU without it did not throw";
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find("avx512"), std::string::npos) << e.what();
    }
  }
  nabla::set_isa(before);
}

TEST(Threads, SetAndGet) {
  const int before = nabla::num_threads();
  EXPECT_GE(before, 1);
  nabla::set_num_threads(3);
  EXPECT_EQ(nabla::num_threads(), 3);
  nabla::set_num_threads(1);
  EXPECT_EQ(nabla::num_threads(), 1);
  EXPECT_THROW(nabla::set_num_threads(0), nabla::Error);
  EXPECT_THROW(nabla::set_num_threads(-2), nabla::Error);
  nabla::set_num_threads(before);
}

TEST(GemmConfig, DefaultsAreValidForEveryIsa) {
  for (nabla::Isa isa : {nabla::Isa::Generic, nabla::Isa::Avx2, nabla::Isa::Avx512}) {
    const nabla::GemmConfig c = nabla::default_gemm_config(isa);
    SCOPED_TRACE(nabla::to_string(c));
    EXPECT_GT(c.mr, 0);
    EXPECT_GT(c.nr, 0);
    EXPECT_GE(c.kc, 64);
    EXPECT_EQ(c.mc % c.mr, 0);
    EXPECT_EQ(c.nc % c.nr, 0);
    EXPECT_NO_THROW(nabla::set_gemm_config(isa, c));
  }
  nabla::reset_gemm_config();
}

TEST(GemmConfig, RejectsInvalid) {
  const nabla::Isa isa = nabla::Isa::Generic;
  nabla::GemmConfig c = nabla::default_gemm_config(isa);
  nabla::GemmConfig bad = c;
  bad.kc = 0;
  EXPECT_THROW(nabla::set_gemm_config(isa, bad), nabla::Error);
  bad = c;
  bad.mc = c.mr + 1;
  EXPECT_THROW(nabla::set_gemm_config(isa, bad), nabla::Error);
  bad = c;
  bad.mr = 7;
  bad.nr = 3;  // not a compiled tile
  EXPECT_THROW(nabla::set_gemm_config(isa, bad), nabla::Error);
  EXPECT_EQ(nabla::to_string(nabla::gemm_config(isa)), nabla::to_string(c));
}

TEST(GemmVariants, EveryIsaHasTwoTilesNamedByTheGrammar) {
  for (nabla::Isa isa : {nabla::Isa::Generic, nabla::Isa::Avx2, nabla::Isa::Avx512}) {
    const auto vars = nabla::kernels::detail::gemm_variants(isa);
    ASSERT_GE(vars.size(), 2u);
    for (const auto& v : vars) {
      const std::string want = "f32_gemm_" + std::to_string(v.mr) + "x" + std::to_string(v.nr) + "_" +
                               (isa == nabla::Isa::Generic ? "sse2" : nabla::isa_name(isa));
      EXPECT_EQ(v.name, want);
      EXPECT_EQ(v.isa, isa);
    }
  }
}

}  // namespace

namespace {

// An interrupt stops forward and backward at the next layer with
// nabla::Interrupted, and leaves the model usable: once cleared, the same
// forward and backward give what they gave before.
std::vector<float> values(const nabla::Tensor& t) { return {t.data(), t.data() + t.numel()}; }

TEST(Interrupt, StopsSequentialBetweenLayersAndLeavesItUsable) {
  using namespace nabla;
  nn::manual_seed(3);
  nn::Sequential m;
  m.add(nn::Dense(5, 4)).add(nn::ReLU()).add(nn::Dense(4, 3));
  Tensor x({2, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.1f * static_cast<float>(i) - 0.4f;
  Tensor dy({2, 3});
  for (int64_t i = 0; i < dy.numel(); ++i) dy.data()[i] = 0.5f - 0.2f * static_cast<float>(i);
  const std::vector<float> y0 = values(m.forward(x));
  m.zero_grad();
  m.backward(dy);
  const std::vector<float> g0 = values(m.parameters()[0]->grad);

  ASSERT_FALSE(interrupt_requested());
  request_interrupt();
  EXPECT_TRUE(interrupt_requested());
  EXPECT_THROW(m.forward(x), Interrupted);
  try {
    m.forward(x);
  } catch (const Interrupted& e) {
    EXPECT_NE(std::string(e.what()).find("Sequential::forward: interrupted"), std::string::npos) << e.what();
  }
  // The interrupted forward left no output a backward could use.
  clear_interrupt();
  EXPECT_THROW(m.backward(dy), Error);
  EXPECT_EQ(values(m.forward(x)), y0);
  request_interrupt();
  EXPECT_THROW(m.backward(dy), Interrupted);
  EXPECT_THROW(check_interrupt("here"), Interrupted);
  clear_interrupt();
  EXPECT_NO_THROW(check_interrupt("here"));
  m.zero_grad();
  m.backward(dy);
  EXPECT_EQ(values(m.parameters()[0]->grad), g0);
}

TEST(Interrupt, StopsReadingACsv) {
  nabla::data::CsvOptions o;
  o.header = false;
  nabla::request_interrupt();
  EXPECT_THROW(nabla::data::parse_csv("1,2\n3,4\n", "t.csv", o), nabla::Interrupted);
  nabla::clear_interrupt();
  EXPECT_EQ(nabla::data::parse_csv("1,2\n3,4\n", "t.csv", o).x.numel(), 2);
}

}  // namespace
