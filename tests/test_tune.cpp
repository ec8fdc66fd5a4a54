// `nabla tune` as a library (tools/tune.hpp) and through the binary: the
// profile it returns is valid and loads, the configuration in use is left
// as it was, bad options are clear errors, and `nabla info` shows the
// profile in use. No timing is asserted.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kernels/conv/conv_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/kernels/gemm_config.hpp"
#include "nabla/runtime/profile.hpp"
#include "nabla/runtime/threads.hpp"
#include "tune.hpp"

namespace cli = nabla::cli;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

cli::TuneOptions small_run() {
  cli::TuneOptions o;
  o.budget_s = 5;
  o.threads = {1, 2};
  o.training_shapes = false;
  o.extra_shapes = {{"a", false, true, 17, 33, 65}, {"b", true, false, 64, 48, 100}};
  return o;
}

TEST(Tune, ReturnsAValidProfileAndLeavesTheConfigurationAlone) {
  const nabla::Isa isa = nabla::active_isa();
  const nabla::GemmConfig before = nabla::gemm_config(isa);
  const int threads = nabla::num_threads();
  int calls = 0;
  double last = -1;
  const nabla::Profile p = cli::tune(small_run(), [&](double f, const std::string& step) {
    ++calls;
    EXPECT_GE(f, 0);
    EXPECT_LE(f, 1);
    EXPECT_FALSE(step.empty());
    last = f;
  });
  EXPECT_GT(calls, 3);
  EXPECT_EQ(p.key, nabla::profile_key(isa));
  EXPECT_EQ(p.isa, isa);
  EXPECT_NO_THROW(nabla::validate_gemm_config(isa, p.gemm));
  ASSERT_EQ(p.shapes.size(), 4u);  // 2 shapes × 2 thread counts
  EXPECT_EQ(p.shapes[0].m, 17);
  EXPECT_TRUE(p.shapes[0].tb);
  EXPECT_EQ(p.shapes[3].threads, 2);
  for (const auto& s : p.shapes) {
    EXPECT_GT(s.default_gflops, 0);
    EXPECT_GT(s.tuned_gflops, 0);
  }
  EXPECT_EQ(p.limits.threads, 2);
  EXPECT_GT(p.limits.peak_gflops_1, 0);
  EXPECT_FALSE(p.limits.bandwidth_1.empty());
  EXPECT_FALSE(p.created.empty());
  // What it returns is what the loader accepts.
  EXPECT_NO_THROW(nabla::profile_from_json(nabla::profile_to_json(p)));
  // The configuration and thread count in use are as before.
  const nabla::GemmConfig after = nabla::gemm_config(isa);
  EXPECT_EQ(after.mc, before.mc);
  EXPECT_EQ(after.kc, before.kc);
  EXPECT_EQ(after.nc, before.nc);
  EXPECT_EQ(after.auto_tile, before.auto_tile);
  EXPECT_EQ(nabla::num_threads(), threads);
  EXPECT_FALSE(cli::tune_report(p).empty());
}

TEST(Tune, RejectsBadOptions) {
  cli::TuneOptions o = small_run();
  o.budget_s = 1;
  EXPECT_THROW(cli::tune(o), nabla::Error);
  o = small_run();
  o.threads = {0};
  EXPECT_THROW(cli::tune(o), nabla::Error);
  o = small_run();
  o.extra_shapes = {{"zero", false, false, 0, 4, 4}};
  EXPECT_THROW(cli::tune(o), nabla::Error);
  o = small_run();
  o.extra_shapes.clear();
  EXPECT_THROW(cli::tune(o), nabla::Error);
}

TEST(Tune, DefaultShapesAreTheTrainingSet) {
  const auto shapes = cli::default_tune_shapes();
  EXPECT_GE(shapes.size(), 10u);
  bool conv3 = false;
  for (const auto& s : shapes) conv3 = conv3 || (s.m == 64 && s.n == 50176 && s.k == 288);
  EXPECT_TRUE(conv3);
}

// The shapes of a model's step: its dense layers' three GEMMs and the
// per-image GEMMs inside its convolutions (the one-channel first layer and
// the second's forward run without GEMMs), each once.
TEST(Tune, ModelShapesIncludeTheConvolutionsGemms) {
  const auto shapes = cli::model_gemm_shapes("lenet", 64);
  auto has = [&](int64_t m, int64_t n, int64_t k) {
    return std::any_of(shapes.begin(), shapes.end(), [&](const cli::TuneShape& s) {
      return s.m == m && s.n == n && s.k == k;
    });
  };
  std::string all;
  for (const auto& s : shapes) all += s.name + " ";
  EXPECT_TRUE(has(150, 100, 16)) << all;   // conv 16 5 backward-data, per image (its forward is direct)
  EXPECT_TRUE(has(64, 120, 400)) << all;   // dense 400 -> 120 forward
  EXPECT_TRUE(has(120, 400, 64)) << all;   // and its weight gradient
  EXPECT_TRUE(has(64, 10, 84)) << all;     // the classifier
  for (size_t i = 0; i < shapes.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      EXPECT_FALSE(shapes[i].m == shapes[j].m && shapes[i].n == shapes[j].n && shapes[i].k == shapes[j].k &&
                   shapes[i].ta == shapes[j].ta && shapes[i].tb == shapes[j].tb)
          << "twice: " << shapes[i].name;
  EXPECT_THROW(cli::model_gemm_shapes("dense x", 64), nabla::Error);
  EXPECT_THROW(cli::model_gemm_shapes("lenet", 0), nabla::Error);
}

// The convolution layers of a model's step, each once, as the layers have them.
TEST(Tune, ModelConvShapesAreTheLayers) {
  const auto shapes = cli::model_conv_shapes("lenet", 32);
  ASSERT_EQ(shapes.size(), 2u);
  EXPECT_EQ(shapes[0], (nabla::kernels::ConvParams{.n = 32, .c_in = 1, .h = 28, .w = 28, .c_out = 6, .kh = 5,
                                                   .kw = 5, .pad_h = 2, .pad_w = 2}));
  EXPECT_EQ(shapes[1], (nabla::kernels::ConvParams{.n = 32, .c_in = 6, .h = 14, .w = 14, .c_out = 16, .kh = 5,
                                                   .kw = 5}));
  EXPECT_TRUE(cli::model_conv_shapes("dense 10", 8).empty());
}

// With convolution shapes, every choice the tuner records names a variant
// that applies to its shape and was faster than the rule's; the profile
// loads; a shape the kernels reject is refused before anything runs.
TEST(Tune, ConvChoicesNameFasterVariantsThatApply) {
  cli::TuneOptions o = small_run();
  o.threads = {1};
  // 1×1 stride 2 (implicit by the rule; im2col applies too) and 3×3 on 8×8.
  o.conv_shapes = {{.n = 8, .c_in = 16, .h = 14, .w = 14, .c_out = 32, .kh = 1, .kw = 1, .stride_h = 2,
                    .stride_w = 2},
                   {.n = 4, .c_in = 8, .h = 8, .w = 8, .c_out = 8, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1}};
  const nabla::Profile p = cli::tune(o);
  const nabla::Isa isa = nabla::active_isa();
  for (const nabla::ConvChoice& c : p.conv) {
    SCOPED_TRACE(c.pass + " " + c.variant);
    const nabla::kernels::ConvParams cp{.n = c.n, .c_in = c.c_in, .h = c.h, .w = c.w, .c_out = c.c_out, .kh = c.kh,
                                        .kw = c.kw, .stride_h = c.stride_h, .stride_w = c.stride_w,
                                        .pad_h = c.pad_h, .pad_w = c.pad_w, .dil_h = c.dil_h, .dil_w = c.dil_w};
    EXPECT_TRUE(cp == o.conv_shapes[0] || cp == o.conv_shapes[1]);
    const nabla::kernels::ConvShape s(cp);
    bool found = false;
    for (const auto& v : nabla::kernels::detail::conv_variants(isa))
      if (c.variant == v.tag) found = v.applies(s);
    EXPECT_TRUE(found);
    const auto pass = nabla::kernels::detail::conv_pass_from_name(c.pass);
    ASSERT_TRUE(pass.has_value()) << c.pass;
    EXPECT_NE(c.variant, nabla::kernels::detail::conv_default(isa, s, *pass).tag);
    EXPECT_LT(c.tuned_ms, c.default_ms);
    EXPECT_EQ(c.threads, 1);
  }
  EXPECT_NO_THROW(nabla::profile_from_json(nabla::profile_to_json(p)));
  o.conv_shapes = {{.n = 1, .c_in = 1, .h = 2, .w = 2, .c_out = 1, .kh = 5, .kw = 5}};  // kernel past the image
  EXPECT_THROW(cli::tune(o), nabla::Error);
}

// The binary: option errors, and `nabla info` naming a profile made by tune.
TEST(TuneBinary, ErrorsAndInfo) {
  const fs::path dir = fs::temp_directory_path() / ("nabla_test_tune_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto run = [&](const std::string& env, const std::string& args, std::string& out, std::string& err) {
    const std::string o = (dir / "out").string(), e = (dir / "err").string();
    const int rc = std::system((env + " " + NABLA_CLI_PATH + " " + args + " >" + o + " 2>" + e).c_str());
    out = slurp(o);
    err = slurp(e);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  std::string out, err;
  EXPECT_NE(run("", "tune --budget 1 --output " + (dir / "p.json").string(), out, err), 0);
  EXPECT_NE(err.find("--budget"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "p.json"));
  EXPECT_NE(run("", "tune --threads 0 --output " + (dir / "p.json").string(), out, err), 0);
  EXPECT_NE(err.find("thread"), std::string::npos) << err;
  EXPECT_EQ(run("", "tune --help", out, err), 0);
  EXPECT_NE(out.find("NABLA_PROFILE"), std::string::npos);

  const nabla::Profile p = cli::tune(small_run());
  const std::string path = (dir / "p.json").string();
  nabla::save_profile(p, path);
  EXPECT_EQ(run("NABLA_PROFILE=" + path, "info", out, err), 0) << err;
  EXPECT_NE(out.find("profile:  " + path), std::string::npos) << out;
  EXPECT_EQ(run("NABLA_PROFILE=off", "info", out, err), 0) << err;
  EXPECT_NE(out.find("NABLA_PROFILE=off"), std::string::npos) << out;
  std::ofstream(path) << "{ truncated";
  EXPECT_EQ(run("NABLA_PROFILE=" + path, "info", out, err), 0) << err;
  EXPECT_NE(err.find("warning"), std::string::npos) << err;
  EXPECT_NE(out.find("none in use"), std::string::npos) << out;
  fs::remove_all(dir);
}

}  // namespace
