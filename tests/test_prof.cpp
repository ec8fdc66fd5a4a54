// nabla prof (tools/prof.hpp) as a library: the JSON parses and has the
// documented fields on every row, the CSV has a header and one line per row,
// the SVG roofline is well-formed XML with one point per timed row, a
// corrupted variant is reported WRONG and not timed, the trace of one LeNet
// step has every layer and pass, bad arguments throw nabla::Error. No timing
// is asserted: the limits are given, and each case runs only a few times.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/conv/conv_internal.hpp"
#include "kernels/gemm/gemm_internal.hpp"
#include "nabla/error.hpp"
#include "nabla/runtime/trace.hpp"
#include "prof.hpp"

namespace {

using nabla::cli::ProfOptions;
using nabla::cli::ProfReport;

nabla::MachineLimits fake_limits() {
  nabla::MachineLimits l;
  l.threads = 1;
  l.peak_gflops_1 = l.peak_gflops_all = 100;
  for (const char* level : {"L1", "L2", "L3", "DRAM"}) {
    nabla::BandwidthPoint p;
    p.level = level;
    p.bytes = 1 << 20;
    p.copy_gbs = p.triad_gbs = 50;
    l.bandwidth_1.push_back(p);
  }
  l.bandwidth_all = l.bandwidth_1;
  return l;
}

ProfOptions quick(const std::string& family, std::vector<std::string> shapes) {
  ProfOptions o;
  o.family = family;
  o.shapes = std::move(shapes);
  o.threads = 1;
  o.min_time = 0;
  o.limits = fake_limits();
  return o;
}

// ---- a small XML checker ------------------------------------------------------

// Checks that every tag is closed in order, attribute values are quoted, and
// text and attribute values use only the five predefined entities. Returns
// "" or the first problem; counts elements by name.
std::string check_xml(const std::string& s, std::map<std::string, int>& count) {
  std::vector<std::string> stack;
  auto entity_ok = [&](size_t at) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (s.compare(at, std::strlen(e), e) == 0) return true;
    return false;
  };
  size_t i = 0;
  bool root_seen = false;
  while (i < s.size()) {
    if (s[i] != '<') {
      if (s[i] == '&' && !entity_ok(i)) return "unescaped & at " + std::to_string(i);
      if (s[i] == '>') return "stray > at " + std::to_string(i);
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i])))
        return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    if (s.compare(i, 5, "<?xml") == 0) {
      const size_t end = s.find("?>", i);
      if (end == std::string::npos || i != 0) return "bad XML declaration";
      i = end + 2;
      continue;
    }
    // A tag: scan to its '>' outside quotes.
    size_t j = i + 1;
    char quote = 0;
    for (; j < s.size(); ++j) {
      const char c = s[j];
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '<') return "< inside an attribute at " + std::to_string(j);
        else if (c == '&' && !entity_ok(j)) return "unescaped & in an attribute at " + std::to_string(j);
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        return "< inside a tag at " + std::to_string(j);
      } else if (c == '>') {
        break;
      }
    }
    if (j >= s.size()) return "unterminated tag at " + std::to_string(i);
    const std::string tag = s.substr(i + 1, j - i - 1);
    if (tag.empty()) return "empty tag";
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) return "closing </" + name + "> does not match";
      stack.pop_back();
    } else {
      const bool self = tag.back() == '/';
      const std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
      if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return "bad tag name '" + name + "'";
      if (stack.empty()) {
        if (root_seen) return "a second root element <" + name + ">";
        root_seen = true;
      }
      ++count[name];
      if (name == "circle" && tag.find("class=\"point\"") != std::string::npos) ++count["point"];
      if (!self) stack.push_back(name);
    }
    i = j + 1;
  }
  if (!stack.empty()) return "<" + stack.back() + "> is never closed";
  if (!root_seen) return "no root element";
  return "";
}

TEST(XmlChecker, CatchesMistakes) {
  std::map<std::string, int> c;
  EXPECT_EQ(check_xml("<svg><text>a &amp; b</text></svg>", c), "");
  EXPECT_NE(check_xml("<svg><text>a & b</text></svg>", c), "");
  EXPECT_NE(check_xml("<svg><text>a</svg>", c), "");
  EXPECT_NE(check_xml("<svg><text>a</text>", c), "");
  EXPECT_NE(check_xml("<svg x=\"<\"/>", c), "");
  EXPECT_NE(check_xml("<svg/><svg/>", c), "");
}

// ---- the JSON schema, in code --------------------------------------------------------

void check_schema(const nlohmann::json& j, const ProfReport& r) {
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("schema"), "nabla-prof-1");
  EXPECT_EQ(j.at("mode"), r.mode);
  EXPECT_TRUE(j.at("isa").is_string());
  EXPECT_TRUE(j.at("threads").is_number_integer());
  const auto& lim = j.at("limits");
  EXPECT_TRUE(lim.at("source").is_string());
  EXPECT_TRUE(lim.at("peak_gflops").is_number());
  for (const auto& b : lim.at("bandwidth")) {
    EXPECT_TRUE(b.at("level").is_string());
    EXPECT_TRUE(b.at("bytes").is_number());
    EXPECT_TRUE(b.at("copy_gbs").is_number());
    EXPECT_TRUE(b.at("triad_gbs").is_number());
  }
  if (r.mode == "model") {
    EXPECT_TRUE(j.at("model").is_string());
    EXPECT_TRUE(j.at("batch").is_number_integer());
    EXPECT_TRUE(j.at("step_seconds").is_number());
  } else {
    EXPECT_TRUE(j.at("family").is_string());
  }
  const auto& rows = j.at("rows");
  ASSERT_TRUE(rows.is_array());
  ASSERT_EQ(rows.size(), r.rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    SCOPED_TRACE("row " + std::to_string(i + 1));
    EXPECT_EQ(row.at("index"), i + 1);
    EXPECT_TRUE(row.at("layer").is_number_integer());
    for (const char* f : {"layer_name", "pass", "variant", "shape", "status", "error", "bw_level"})
      EXPECT_TRUE(row.at(f).is_string()) << f;
    EXPECT_FALSE(row.at("variant").get<std::string>().empty());
    EXPECT_EQ(row.at("variant").get<std::string>().rfind("f32_", 0), 0u) << row.at("variant");
    for (const char* f : {"flops", "bytes", "intensity"}) EXPECT_TRUE(row.at(f).is_number()) << f;
    const bool ok = row.at("status") == "ok";
    EXPECT_TRUE(ok || row.at("status") == "wrong");
    for (const char* f : {"seconds", "best_seconds", "gflops", "peak_pct", "gbs", "bw_pct", "share"})
      EXPECT_TRUE(ok ? row.at(f).is_number() : row.at(f).is_null()) << f;
    if (ok) EXPECT_GT(row.at("seconds").get<double>(), 0);
  }
}

size_t csv_lines(const std::string& csv) {
  size_t n = 0;
  bool quoted = false;
  for (char c : csv) {
    if (c == '"') quoted = !quoted;
    if (c == '\n' && !quoted) ++n;
  }
  return n;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Every family, through every output, on small shapes.
TEST(Prof, OutputsOfEveryFamily) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {"gemm", {"13x17x19", "8x40x5:tt"}},
      {"conv", {"2x3x9x8,5x3x3,p1", "2x4x5x5,3x1x1", "1x2x7x7,2x3x2,s2x1,d2"}},
      {"eltwise", {"1000"}},
  };
  const auto dir = std::filesystem::temp_directory_path() / ("nabla_test_prof_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& [family, shapes] : runs) {
    SCOPED_TRACE(family);
    ProfOptions o = quick(family, shapes);
    o.json = (dir / (family + ".json")).string();
    o.csv = (dir / (family + ".csv")).string();
    o.roofline = (dir / (family + ".svg")).string();
    const ProfReport r = nabla::cli::profile(o);
    ASSERT_FALSE(r.rows.empty());
    for (const auto& row : r.rows) EXPECT_TRUE(row.ok) << row.variant << " " << row.shape << ": " << row.error;
    nabla::cli::write_prof_outputs(r, o);

    check_schema(nlohmann::json::parse(slurp(o.json)), r);

    const std::string csv = slurp(o.csv);
    EXPECT_EQ(csv.substr(0, csv.find('\n')),
              "index,layer,layer_name,pass,variant,shape,status,seconds,best_seconds,flops,bytes,gflops,peak_pct,gbs,"
              "bw_level,bw_pct,intensity,share");
    EXPECT_EQ(csv_lines(csv), r.rows.size() + 1);

    std::map<std::string, int> count;
    EXPECT_EQ(check_xml(slurp(o.roofline), count), "");
    EXPECT_EQ(count["point"], static_cast<int>(r.rows.size()));
    EXPECT_EQ(count["svg"], 1);

    const std::string table = nabla::cli::prof_table(r);
    for (const auto& row : r.rows) EXPECT_NE(table.find(row.variant), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

// The variant lists drive the profiler: every GEMM tile × packing of the
// active ISA and every convolution variant that applies shows up.
TEST(Prof, EveryVariantOfTheListsIsProfiled) {
  const nabla::Isa isa = nabla::active_isa();
  const auto gemm = nabla::cli::prof_cases("gemm", {"13x17x19"}, {isa});
  std::set<std::string> names;
  for (const auto& c : gemm) names.insert(c.variant);
  for (const auto& v : nabla::kernels::detail::gemm_variants(isa))
    for (const auto& pk : nabla::kernels::detail::gemm_packings())
      EXPECT_TRUE(names.count(nabla::kernels::detail::gemm_variant_name(v, pk))) << v.name << " " << pk.name;
  // A 1×1 convolution and a one-channel one: between them every variant applies.
  const std::vector<std::string> shapes = {"2x4x5x5,3x1x1", "2x1x6x6,3x3x3"};
  const auto conv = nabla::cli::prof_cases("conv", shapes, {isa});
  names.clear();
  for (const auto& c : conv) names.insert(c.variant);
  for (const auto& v : nabla::kernels::detail::conv_variants(isa)) EXPECT_TRUE(names.count(v.name)) << v.name;
  // Three passes per convolution variant that applies to a shape.
  size_t applicable = 0;
  for (const nabla::kernels::ConvShape s : {nabla::kernels::ConvShape({.n = 2, .c_in = 4, .h = 5, .w = 5, .c_out = 3, .kh = 1, .kw = 1}),
                                            nabla::kernels::ConvShape({.n = 2, .c_in = 1, .h = 6, .w = 6, .c_out = 3, .kh = 3, .kw = 3})})
    for (const auto& v : nabla::kernels::detail::conv_variants(isa)) applicable += v.applies(s);
  EXPECT_EQ(conv.size(), 3 * applicable);
}

// A variant whose output is corrupted after it runs is reported WRONG and
// not timed; the others still are; the roofline has no point for it.
TEST(Prof, WrongVariantIsReportedAndNotTimed) {
  for (const std::string family : {"gemm", "conv", "eltwise"}) {
    SCOPED_TRACE(family);
    ProfOptions o = quick(family, {family == "gemm" ? "9x33x7" : family == "conv" ? "2x3x6x6,4x3x3" : "333"});
    std::string broken;
    int timed_runs = 0;
    o.edit_cases = [&](std::vector<nabla::cli::ProfCase>& cases) {
      ASSERT_GE(cases.size(), 2u);
      nabla::cli::ProfCase& c = cases[1];
      broken = c.variant + "|" + c.pass;
      c.run = [run = c.run, out = c.out, &timed_runs] {
        run();
        out[out.size() / 2] += 1.f;
        ++timed_runs;
      };
    };
    const ProfReport r = nabla::cli::profile(o);
    ASSERT_GE(r.rows.size(), 2u);
    EXPECT_FALSE(r.rows[1].ok);
    EXPECT_EQ(r.rows[1].variant + "|" + r.rows[1].pass, broken);
    EXPECT_NE(r.rows[1].error.find("differ"), std::string::npos) << r.rows[1].error;
    EXPECT_EQ(r.rows[1].seconds, 0);
    EXPECT_EQ(timed_runs, 1);  // the checked run only
    for (size_t i = 0; i < r.rows.size(); ++i)
      if (i != 1) EXPECT_TRUE(r.rows[i].ok) << r.rows[i].variant;
    EXPECT_NE(nabla::cli::prof_table(r).find("WRONG"), std::string::npos);
    check_schema(nlohmann::json::parse(nabla::cli::prof_json(r)), r);
    std::map<std::string, int> count;
    EXPECT_EQ(check_xml(nabla::cli::prof_roofline_svg(r), count), "");
    EXPECT_EQ(count["point"], static_cast<int>(r.rows.size()) - 1);
  }
}

// One LeNet step: every layer with a kernel appears in its passes, the loss
// and the optimiser too; the shares add up to at most the step.
TEST(Prof, LenetTraceHasEveryLayerAndPass) {
  ProfOptions o;
  o.model = "lenet";
  o.batch = 8;
  o.threads = 1;
  o.steps = 2;
  o.limits = fake_limits();
  const ProfReport r = nabla::cli::profile(o);
  EXPECT_EQ(nabla::trace::active(), nullptr);  // the sink is removed
  std::set<std::pair<int64_t, std::string>> seen;
  std::set<std::string> passes;
  double share = 0;
  for (const auto& row : r.rows) {
    seen.insert({row.layer, row.pass});
    passes.insert(row.pass);
    share += row.share;
    EXPECT_GT(row.flops + row.bytes, 0) << row.variant;
  }
  EXPECT_LE(share, 1.0 + 1e-9);
  for (const char* p : {"forward", "backward-data", "backward-weights", "loss", "optimiser"})
    EXPECT_TRUE(passes.count(p)) << p;
  // lenet: 0 conv, 1 relu, 2 pool, 3 conv, 4 relu, 5 pool, 6 flatten, 7 dense, 8 relu, 9 dense, 10 relu, 11 dense
  for (int64_t l : {0, 3, 5, 7, 9, 11}) EXPECT_TRUE(seen.count({l, "forward"})) << l;
  // the first pool runs in the convolution's kernel where it fuses (the
  // one-channel direct kernel, rows of at most two AVX-512 vectors)
  bool pooled_in_conv = false;
  for (const auto& row : r.rows)
    pooled_in_conv |= row.layer == 0 && row.pass == "forward" && row.variant.find("maxpool") != std::string::npos &&
                      row.layer_name.find("MaxPool2D") != std::string::npos;
  EXPECT_TRUE(seen.count({2, "forward"}) || pooled_in_conv);
  for (int64_t l : {0, 3, 7, 9, 11}) EXPECT_TRUE(seen.count({l, "backward-weights"})) << l;
  for (int64_t l : {0, 3, 7, 9, 11}) EXPECT_TRUE(seen.count({l, "optimiser"})) << l;
  for (int64_t l : {3, 5, 7, 9, 11}) EXPECT_TRUE(seen.count({l, "backward-data"})) << l;
  // backward, that pool's gradient goes straight into the first layer's
  // weight gradient (no scatter) where the forward fused it
  EXPECT_TRUE(seen.count({2, "backward-data"}) || pooled_in_conv);
  EXPECT_FALSE(seen.count({0, "backward-data"}));  // no gradient w.r.t. the data
  check_schema(nlohmann::json::parse(nabla::cli::prof_json(r)), r);
  std::map<std::string, int> count;
  EXPECT_EQ(check_xml(nabla::cli::prof_roofline_svg(r), count), "");
}

// A sink sees nothing once removed, and nested kernels (the GEMMs of a
// convolution) are part of the outer call — unless the sink asks for them.
TEST(Trace, OuterCallsOnly) {
  struct Count : nabla::trace::Sink {
    explicit Count(bool nested) : nested_(nested) {}
    std::vector<std::string> kernels;
    std::vector<bool> nested_flags;
    void record(nabla::trace::Event e) override {
      kernels.push_back(e.call.kernel);
      nested_flags.push_back(e.nested);
    }
    bool nested() const override { return nested_; }
    bool nested_;
  };
  // 9×9 outputs: a map of fewer than 64 would run both images' forward in
  // one GEMM; a 5×5 kernel on 13×13 runs im2col (the implicit variant's
  // pitch would waste too many columns; 2 × 25 taps are too few for the
  // direct kernel).
  nabla::kernels::ConvShape s({.n = 2, .c_in = 2, .h = 13, .w = 13, .c_out = 2, .kh = 5, .kw = 5});
  std::vector<float> x(2 * 2 * 169, 1.f), w(100, 1.f), y(2 * 2 * 81);
  Count sink(false);
  nabla::trace::set_sink(&sink);
  nabla::kernels::conv2d_forward(s, x.data(), w.data(), nullptr, nabla::kernels::Activation::ReLU, y.data());
  nabla::trace::set_sink(nullptr);
  nabla::kernels::conv2d_forward(s, x.data(), w.data(), nullptr, nabla::kernels::Activation::ReLU, y.data());
  ASSERT_EQ(sink.kernels.size(), 1u);
  EXPECT_EQ(sink.kernels[0].rfind("f32_conv_im2col_relu_", 0), 0u) << sink.kernels[0];
  EXPECT_FALSE(sink.nested_flags[0]);
  // Asking for nested calls: the convolution, then one GEMM per image.
  Count all(true);
  nabla::trace::set_sink(&all);
  nabla::kernels::conv2d_forward(s, x.data(), w.data(), nullptr, nabla::kernels::Activation::ReLU, y.data());
  nabla::trace::set_sink(nullptr);
  ASSERT_EQ(all.kernels.size(), 3u);
  EXPECT_EQ(all.kernels[2].rfind("f32_conv_im2col_relu_", 0), 0u) << all.kernels[2];  // recorded when it ends
  for (int i : {0, 1}) {
    EXPECT_EQ(all.kernels[i].rfind("f32_gemm_", 0), 0u) << all.kernels[i];
    EXPECT_TRUE(all.nested_flags[i]);
  }
  EXPECT_FALSE(all.nested_flags[2]);
}

TEST(Prof, BadArgumentsThrow) {
  auto bad = [](ProfOptions o, const std::string& needle) {
    o.limits = fake_limits();
    o.min_time = 0;
    try {
      nabla::cli::profile(o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const nabla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  bad(quick("blas", {}), "unknown family 'blas'");
  bad(quick("gemm", {"64x256"}), "bad gemm shape '64x256'");
  bad(quick("gemm", {"64x256x0"}), "zero size");
  bad(quick("gemm", {"4x4x4:nx"}), "bad gemm shape");
  bad(quick("gemm", {"ax4x4"}), "bad M 'a'");
  bad(quick("gemm", {"100000x100000x100000"}), "2^28");
  bad(quick("conv", {"64x1x28x28"}), "bad conv shape");
  bad(quick("conv", {"64x1x28x28,6x5x5,q2"}), "bad conv shape");
  bad(quick("conv", {"1x1x2x2,1x5x5"}), "larger than the padded input");
  bad(quick("eltwise", {"-5"}), "bad element count");
  bad(quick("eltwise", {"3"}), "from 10");
  ProfOptions none;
  bad(none, "name a family");
  ProfOptions both = quick("gemm", {});
  both.model = "lenet";
  bad(both, "not both");
  ProfOptions batch;
  batch.model = "lenet";
  batch.batch = 0;
  bad(batch, "--batch");
  ProfOptions shape;
  shape.model = "mlp";
  shape.shapes = {"4x4x4"};
  bad(shape, "--shape applies to a family");
  ProfOptions spec;
  spec.model = "dense 10 | bogus";
  bad(spec, "bogus");
  ProfOptions isa = quick("gemm", {"4x4x4"});
  isa.isa = "neon";
  bad(isa, "neon");
}

}  // namespace
