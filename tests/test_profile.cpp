// The tuning profile: JSON round trip, validation of every field, the
// start-up lookup (NABLA_PROFILE, XDG_CACHE_HOME) and its warnings, and the
// machine measurements it stores.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "kernels/conv/conv_internal.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/nabla.hpp"
#include "nabla/runtime/trace.hpp"

namespace fs = std::filesystem;

namespace {

nabla::Profile sample_profile() {
  const nabla::Isa isa = nabla::active_isa();
  nabla::Profile p;
  p.key = nabla::profile_key(isa);
  p.isa = isa;
  p.gemm = nabla::default_gemm_config(isa);
  const auto& tiles = nabla::kernels::detail::gemm_variants(isa);
  const auto& tile = tiles[1];  // not the default tile; more than one row
  p.gemm.mr = tile.mr;
  p.gemm.nr = tile.nr;
  p.gemm.mc = 12 * tile.mr;
  p.gemm.kc = 256;
  p.gemm.nc = 40 * tile.nr;
  p.gemm.small_flops = 1.5e7;
  p.gemm.parallel_flops = 3e6;
  p.gemm.task_flops = 2e6;
  p.limits.threads = 2;
  p.limits.peak_gflops_1 = 250.5;
  p.limits.peak_gflops_all = 501;
  p.limits.bandwidth_1 = {{"L1", 24576, 400, 500}, {"DRAM", 1 << 28, 30, 35}};
  p.limits.bandwidth_all = {{"L1", 49152, 800, 1000}};
  p.noise = 0.02;
  p.created = "2026-11-29T03:00:00Z";
  p.shapes = {{64, 256, 784, false, true, 1, 200, 220}};
  nabla::ConvChoice c;
  c.n = 8, c.c_in = 3, c.h = 9, c.w = 7, c.c_out = 5, c.kh = 3, c.kw = 3;
  c.stride_h = 2, c.stride_w = 1, c.pad_h = 1, c.pad_w = 0, c.dil_h = 1, c.dil_w = 2;
  c.pass = "backward-data";
  c.variant = "im2col";
  c.threads = 2;
  c.default_ms = 0.5, c.tuned_ms = 0.25;
  p.conv = {c};
  return p;
}

void expect_same(const nabla::Profile& a, const nabla::Profile& b) {
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.isa, b.isa);
  EXPECT_EQ(a.gemm.auto_tile, b.gemm.auto_tile);
  EXPECT_EQ(a.gemm.mr, b.gemm.mr);
  EXPECT_EQ(a.gemm.nr, b.gemm.nr);
  EXPECT_EQ(a.gemm.mc, b.gemm.mc);
  EXPECT_EQ(a.gemm.kc, b.gemm.kc);
  EXPECT_EQ(a.gemm.nc, b.gemm.nc);
  EXPECT_EQ(a.gemm.small_flops, b.gemm.small_flops);
  EXPECT_EQ(a.gemm.parallel_flops, b.gemm.parallel_flops);
  EXPECT_EQ(a.gemm.task_flops, b.gemm.task_flops);
  EXPECT_EQ(a.limits.threads, b.limits.threads);
  EXPECT_EQ(a.limits.peak_gflops_1, b.limits.peak_gflops_1);
  EXPECT_EQ(a.limits.peak_gflops_all, b.limits.peak_gflops_all);
  ASSERT_EQ(a.limits.bandwidth_1.size(), b.limits.bandwidth_1.size());
  for (size_t i = 0; i < a.limits.bandwidth_1.size(); ++i) {
    EXPECT_EQ(a.limits.bandwidth_1[i].level, b.limits.bandwidth_1[i].level);
    EXPECT_EQ(a.limits.bandwidth_1[i].bytes, b.limits.bandwidth_1[i].bytes);
    EXPECT_EQ(a.limits.bandwidth_1[i].triad_gbs, b.limits.bandwidth_1[i].triad_gbs);
  }
  EXPECT_EQ(a.limits.bandwidth_all.size(), b.limits.bandwidth_all.size());
  EXPECT_EQ(a.noise, b.noise);
  EXPECT_EQ(a.created, b.created);
  ASSERT_EQ(a.shapes.size(), b.shapes.size());
  EXPECT_EQ(a.shapes[0].k, b.shapes[0].k);
  EXPECT_EQ(a.shapes[0].tb, b.shapes[0].tb);
  EXPECT_EQ(a.shapes[0].tuned_gflops, b.shapes[0].tuned_gflops);
  ASSERT_EQ(a.conv.size(), b.conv.size());
  for (size_t i = 0; i < a.conv.size(); ++i) {
    const nabla::ConvChoice &x = a.conv[i], &y = b.conv[i];
    EXPECT_EQ(std::vector<int64_t>({x.n, x.c_in, x.h, x.w, x.c_out, x.kh, x.kw, x.stride_h, x.stride_w, x.pad_h,
                                    x.pad_w, x.dil_h, x.dil_w}),
              std::vector<int64_t>({y.n, y.c_in, y.h, y.w, y.c_out, y.kh, y.kw, y.stride_h, y.stride_w, y.pad_h,
                                    y.pad_w, y.dil_h, y.dil_w}));
    EXPECT_EQ(x.pass, y.pass);
    EXPECT_EQ(x.variant, y.variant);
    EXPECT_EQ(x.threads, y.threads);
    EXPECT_EQ(x.default_ms, y.default_ms);
    EXPECT_EQ(x.tuned_ms, y.tuned_ms);
  }
}

bool same_config(const nabla::GemmConfig& a, const nabla::GemmConfig& b) { return a == b; }

// Replaces the first occurrence of `from` in the profile's JSON by `to`.
std::string edited(const std::string& from, const std::string& to) {
  std::string s = nabla::profile_to_json(sample_profile());
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

void expect_rejected(const std::string& text, const std::string& needle) {
  try {
    nabla::profile_from_json(text);
    ADD_FAILURE() << "accepted a profile that should fail with '" << needle << "'";
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Sets (or unsets) an environment variable for the lifetime of the object
// and resets the GEMM configuration on both ends, so the lookup reruns.
class EnvVar {
 public:
  EnvVar(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
    nabla::reset_gemm_config();
  }
  ~EnvVar() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
    nabla::reset_gemm_config();
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class ProfileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nabla_profile_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }
  fs::path dir_;
};

TEST(Profile, JsonRoundTrip) {
  const nabla::Profile p = sample_profile();
  expect_same(p, nabla::profile_from_json(nabla::profile_to_json(p)));
}

TEST(Profile, RejectsCorruptText) {
  const std::string good = nabla::profile_to_json(sample_profile());
  expect_rejected("", "not valid JSON");
  expect_rejected("not json", "not valid JSON");
  expect_rejected("[1, 2]", "not a JSON object");
  for (size_t cut : {good.size() / 4, good.size() / 2, good.size() - 3})
    expect_rejected(good.substr(0, cut), "not valid JSON");
}

TEST(Profile, RejectsMissingAndMistypedFields) {
  expect_rejected(edited("\"kc\"", "\"kc_\""), "missing field 'gemm.kc'");
  expect_rejected(edited("\"limits\"", "\"limits_\""), "missing field '.limits'");
  expect_rejected(edited("\"auto_tile\": true", "\"auto_tile\": 1"), "gemm.auto_tile");
  expect_rejected(edited("\"kc\": 256", "\"kc\": \"256\""), "'gemm.kc' is not an integer");
  expect_rejected(edited("\"kc\": 256", "\"kc\": 256.5"), "'gemm.kc' is not an integer");
  expect_rejected(edited("\"peak_gflops_1\": 250.5", "\"peak_gflops_1\": null"), "peak_gflops_1");
  expect_rejected(edited("\"level\": \"L1\"", "\"level\": 1"), "level");
  expect_rejected(edited("\"format\": 1", "\"format\": 2"), "format");
}

TEST(Profile, RejectsOutOfRangeValues) {
  const int mr = sample_profile().gemm.mr;
  expect_rejected(edited("\"kc\": 256", "\"kc\": 0"), "'gemm.kc' = 0 is out of range");
  expect_rejected(edited("\"kc\": 256", "\"kc\": -5"), "out of range");
  expect_rejected(edited("\"nc\": ", "\"nc\": 1000000000000, \"x\": "), "out of range");
  expect_rejected(edited("\"mc\": " + std::to_string(12 * mr), "\"mc\": " + std::to_string(12 * mr + 1)),
                  "multiple of mr");
  expect_rejected(edited("\"small_flops\": 15000000.0", "\"small_flops\": -1.0"), "out of range");
  expect_rejected(edited("\"task_flops\": 2000000.0", "\"task_flops\": 0.0"), "out of range");
  expect_rejected(edited("\"peak_gflops_1\": 250.5", "\"peak_gflops_1\": 0.0"), "out of range");
  expect_rejected(edited("\"peak_gflops_1\": 250.5", "\"peak_gflops_1\": 1e300"), "out of range");
  expect_rejected(edited("\"threads\": 2", "\"threads\": 0"), "out of range");
  expect_rejected(edited("\"noise\": 0.02", "\"noise\": 5.0"), "out of range");
  const char* isa = nabla::isa_name(nabla::active_isa());
  expect_rejected(edited(std::string("\"isa\": \"") + isa + "\"", "\"isa\": \"avx1024\""), "avx1024");
}

// The convolution choices: optional (a profile without them loads), and
// each field checked.
TEST(Profile, ConvChoicesAreValidated) {
  nabla::Profile none = sample_profile();
  none.conv.clear();
  std::string text = nabla::profile_to_json(none);
  const std::string empty = "\"conv\": [],\n  ";  // the keys come sorted: conv, created, ...
  const size_t at = text.find(empty);
  ASSERT_NE(at, std::string::npos) << text;
  text.erase(at, empty.size());
  ASSERT_EQ(text.find("conv"), std::string::npos) << text;
  EXPECT_TRUE(nabla::profile_from_json(text).conv.empty());
  expect_rejected(edited("\"pass\": \"backward-data\"", "\"pass\": \"sideways\""),
                  "'conv[0].pass' = \"sideways\" is not forward, backward-data or backward-weights");
  expect_rejected(edited("\"variant\": \"im2col\"", "\"variant\": \"\""), "'conv[0].variant' is empty");
  expect_rejected(edited("\"variant\": \"im2col\"", "\"variant\": 3"), "'conv[0].variant' is not a string");
  expect_rejected(edited("\"c_in\": 3", "\"c_in\": 0"), "'conv[0].c_in' = 0 is out of range");
  expect_rejected(edited("\"kh\": 3", "\"kh_\": 3"), "missing field 'conv[0].kh'");
  expect_rejected(edited("\"conv\": [", "\"conv\": 5, \"x\": ["), "'conv' is not an array");
}

TEST_F(ProfileFiles, SaveAndLoadFile) {
  const nabla::Profile p = sample_profile();
  nabla::save_profile(p, path("sub/dir/p.json"));  // creates the directories
  expect_same(p, nabla::load_profile(path("sub/dir/p.json")));
  EXPECT_FALSE(fs::exists(path("sub/dir/p.json.tmp." + std::to_string(::getpid()))));
}

TEST_F(ProfileFiles, FailedSaveKeepsThePreviousFile) {
  const nabla::Profile p = sample_profile();
  nabla::save_profile(p, path("p.json"));
  fs::create_directory(path("p.json.tmp." + std::to_string(::getpid())));  // the temporary cannot be created
  EXPECT_THROW(nabla::save_profile(p, path("p.json")), nabla::Error);
  expect_same(p, nabla::load_profile(path("p.json")));
}

TEST_F(ProfileFiles, LoadErrorsNameTheFile) {
  try {
    nabla::load_profile(path("missing.json"));
    ADD_FAILURE();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
  write("bad.json", "{");
  try {
    nabla::load_profile(path("bad.json"));
    ADD_FAILURE();
  } catch (const nabla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos);
  }
}

TEST_F(ProfileFiles, NamedProfileIsUsed) {
  const nabla::Profile p = sample_profile();
  nabla::save_profile(p, path("p.json"));
  EnvVar env("NABLA_PROFILE", path("p.json"));
  EXPECT_TRUE(same_config(nabla::gemm_config(p.isa), p.gemm));
  const nabla::ProfileStatus st = nabla::profile_status(p.isa);
  EXPECT_EQ(st.path, path("p.json"));
  ASSERT_TRUE(st.profile.has_value());
  EXPECT_EQ(st.profile->limits.peak_gflops_1, 250.5);
  // An explicit override still wins over the profile.
  nabla::GemmConfig c = nabla::default_gemm_config(p.isa);
  nabla::set_gemm_config(p.isa, c);
  EXPECT_TRUE(same_config(nabla::gemm_config(p.isa), c));
}

// conv_select takes the profile's choice for exactly its shape and pass,
// and the fixed rule elsewhere; a choice naming no variant, or one that does
// not apply, is ignored; the public functions run what conv_select says.
TEST_F(ProfileFiles, ConvChoicesAreUsedForTheirShapeAndPass) {
  namespace nkd = nabla::kernels::detail;
  using nkd::ConvPass;
  // 8×8 outputs (not a "wide" map), 3×3 stride 1: implicit, im2col and
  // Winograd all apply; the rule takes Winograd only for large maps.
  const nabla::kernels::ConvParams cp{.n = 2, .c_in = 4, .h = 8, .w = 8, .c_out = 6, .kh = 3, .kw = 3,
                                      .pad_h = 1, .pad_w = 1};
  const nabla::kernels::ConvShape s(cp);
  const nabla::Isa isa = nabla::active_isa();
  const std::string rule = nkd::conv_default(isa, s, ConvPass::Forward).tag;
  ASSERT_NE(rule, "winograd");
  nabla::Profile p = sample_profile();
  auto choice = [&](const char* pass, const char* variant, int64_t n) {
    nabla::ConvChoice c;
    c.n = n, c.c_in = cp.c_in, c.h = cp.h, c.w = cp.w, c.c_out = cp.c_out, c.kh = 3, c.kw = 3, c.pad_h = 1, c.pad_w = 1;
    c.pass = pass;
    c.variant = variant;
    return c;
  };
  p.conv = {choice("backward-data", "winograd", 2), choice("forward", "winograd", 3),  // another batch
            choice("backward-weights", "no-such-variant", 2), choice("forward", "1x1", 2)};  // 1x1 does not apply
  nabla::save_profile(p, path("conv.json"));
  {
    EnvVar env("NABLA_PROFILE", path("conv.json"));
    ASSERT_TRUE(nabla::profile_status(isa).profile.has_value()) << nabla::profile_status(isa).message;
    EXPECT_STREQ(nkd::conv_select(isa, s, ConvPass::BackwardData).tag, "winograd");
    EXPECT_EQ(nkd::conv_select(isa, s, ConvPass::Forward).tag, rule);
    EXPECT_EQ(nkd::conv_select(isa, s, ConvPass::BackwardWeights).tag,
              nkd::conv_default(isa, s, ConvPass::BackwardWeights).tag);
    // The public backward-data runs Winograd: the trace names it.
    struct Names : nabla::trace::Sink {
      std::vector<std::string> v;
      void record(nabla::trace::Event e) override { v.push_back(e.call.kernel); }
    } names;
    std::vector<float> dz(2 * 6 * 64, 1.f), w(6 * 4 * 9, 1.f), dx(2 * 4 * 64);
    nabla::trace::set_sink(&names);
    nabla::kernels::conv2d_backward_data(s, dz.data(), w.data(), dx.data());
    nabla::trace::set_sink(nullptr);
    ASSERT_EQ(names.v.size(), 1u);
    EXPECT_EQ(names.v[0].rfind("f32_conv_winograd_bwd_data", 0), 0u) << names.v[0];
  }
  // Without the profile: the rules again.
  EnvVar off("NABLA_PROFILE", "off");
  EXPECT_EQ(nkd::conv_select(isa, s, ConvPass::Forward).tag, rule);
  EXPECT_STREQ(nkd::conv_select(isa, s, ConvPass::BackwardData).tag,
               nkd::conv_default(isa, s, ConvPass::BackwardData).tag);
}

// Each kind of bad file: defaults, a warning on stderr naming the file and
// the reason, the reason in profile_status().
TEST_F(ProfileFiles, BadProfilesAreIgnoredWithAWarning) {
  const nabla::Isa isa = nabla::active_isa();
  nabla::Profile other_cpu = sample_profile();
  other_cpu.key = "GenuineIntel|Pentium 4|" + std::string(nabla::isa_name(isa)) + "|1 cores|L1d 1|L2 2|L3 3";
  nabla::save_profile(other_cpu, path("other_cpu.json"));
  const std::string good = nabla::profile_to_json(sample_profile());
  write("truncated.json", good.substr(0, good.size() / 2));
  write("kc0.json", edited("\"kc\": 256", "\"kc\": 0"));
  // A well-formed profile whose tile is not compiled: the GEMM family rejects it when adopting it.
  nabla::Profile tile7 = sample_profile();
  tile7.gemm.mr = 7;
  tile7.gemm.mc = 7 * 12;
  nabla::save_profile(tile7, path("tile7.json"));
  write("binary.json", std::string("\x00\x01\xff\xfe", 4));
  struct Case {
    std::string file, reason;
  };
  for (const Case& c : {Case{"other_cpu.json", "another CPU"}, Case{"truncated.json", "not valid JSON"},
                        Case{"kc0.json", "gemm.kc"}, Case{"binary.json", "not valid JSON"},
                        Case{"tile7.json", "no 7x"},
                        Case{"missing.json", "cannot open"}}) {
    SCOPED_TRACE(c.file);
    EnvVar env("NABLA_PROFILE", path(c.file));
    ::testing::internal::CaptureStderr();
    const nabla::GemmConfig cfg = nabla::gemm_config(isa);
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(same_config(cfg, nabla::default_gemm_config(isa)));
    EXPECT_NE(err.find("warning"), std::string::npos) << err;
    EXPECT_NE(err.find(c.file), std::string::npos) << err;
    EXPECT_NE(err.find(c.reason), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
    const nabla::ProfileStatus st = nabla::profile_status(isa);
    EXPECT_FALSE(st.profile.has_value());
    EXPECT_NE(st.message.find(c.reason), std::string::npos) << st.message;
    // A GEMM still runs, with the defaults, and is right.
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float out[4] = {};
    nabla::kernels::gemm(nabla::kernels::Trans::No, nabla::kernels::Trans::No, 2, 2, 2, 1.f, a, 2, b, 2, 0.f, out, 2);
    EXPECT_EQ(out[0], 19.f);
    EXPECT_EQ(out[3], 50.f);
  }
}

TEST_F(ProfileFiles, OffDisablesTheLookup) {
  const nabla::Profile p = sample_profile();
  EnvVar xdg("XDG_CACHE_HOME", dir_.string());
  nabla::save_profile(p, nabla::default_profile_path(p.isa));
  EnvVar env("NABLA_PROFILE", "off");
  EXPECT_TRUE(same_config(nabla::gemm_config(p.isa), nabla::default_gemm_config(p.isa)));
  EXPECT_NE(nabla::profile_status(p.isa).message.find("NABLA_PROFILE=off"), std::string::npos);
}

TEST_F(ProfileFiles, CacheDirectoryProfileIsFoundByKey) {
  const nabla::Profile p = sample_profile();
  EnvVar unset("NABLA_PROFILE", std::nullopt);
  EnvVar xdg("XDG_CACHE_HOME", dir_.string());
  const std::string where = nabla::default_profile_path(p.isa);
  EXPECT_EQ(where.rfind(dir_.string() + "/nabla/profile-", 0), 0u) << where;
  // No file yet: the defaults, silently.
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(same_config(nabla::gemm_config(p.isa), nabla::default_gemm_config(p.isa)));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  nabla::save_profile(p, where);
  nabla::reset_gemm_config();
  EXPECT_TRUE(same_config(nabla::gemm_config(p.isa), p.gemm));
  // Another ISA has another file.
  if (p.isa != nabla::Isa::Generic) EXPECT_NE(nabla::default_profile_path(nabla::Isa::Generic), where);
}

TEST(Measure, FmaPeakAndBandwidthArePlausible) {
  const nabla::Isa isa = nabla::active_isa();
  const nabla::FmaRun r = nabla::run_fma_loop(isa, 1, 1000);
  EXPECT_EQ(r.flops, 1000.0 * 12 * 2 * (isa == nabla::Isa::Avx512 ? 16 : isa == nabla::Isa::Avx2 ? 8 : 4));
  EXPECT_GT(r.seconds, 0);
  EXPECT_GT(nabla::measure_fma_peak(isa, 1, 0.01), 0.1);
  const nabla::BandwidthPoint b = nabla::measure_bandwidth(1 << 16, 2, 0.01);
  EXPECT_GT(b.copy_gbs, 0.01);
  EXPECT_GT(b.triad_gbs, 0.01);
  EXPECT_NEAR(static_cast<double>(b.bytes), 2.0 * (1 << 16), 2.0 * 192);
  EXPECT_THROW(nabla::measure_bandwidth(1 << 16, 0, 0.01), nabla::Error);
  EXPECT_THROW(nabla::run_fma_loop(isa, 1, 0), nabla::Error);
}

TEST(Measure, LimitsCoverEveryLevel) {
  const nabla::MachineLimits l = nabla::measure_limits(nabla::active_isa(), 2, 0.1);
  EXPECT_EQ(l.threads, 2);
  ASSERT_GE(l.bandwidth_1.size(), 3u);
  EXPECT_EQ(l.bandwidth_1.front().level, "L1");
  EXPECT_EQ(l.bandwidth_1.back().level, "DRAM");
  EXPECT_EQ(l.bandwidth_1.size(), l.bandwidth_all.size());
  // The profile accepts what was measured.
  nabla::Profile p = sample_profile();
  p.limits = l;
  expect_same(p, nabla::profile_from_json(nabla::profile_to_json(p)));
}

}  // namespace
