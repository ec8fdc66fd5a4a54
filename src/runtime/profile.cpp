// The tuning profile: JSON (nlohmann-json) <-> Profile, with validation, and
// the file lookup gemm_config() uses at start-up.
#include "nabla/runtime/profile.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>

#include "nabla/error.hpp"
#include "nabla/runtime/file.hpp"

namespace nabla {
namespace {

using json = nlohmann::json;

constexpr int kFormat = 1;

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Field access with errors that name the field.
const json& field(const json& j, const char* name, const std::string& where) {
  if (!j.is_object()) throw Error("profile: " + where + " is not an object");
  auto it = j.find(name);
  if (it == j.end()) throw Error("profile: missing field '" + where + "." + name + "'");
  return *it;
}

double number(const json& j, const char* name, const std::string& where, double lo, double hi) {
  const json& v = field(j, name, where);
  if (!v.is_number()) throw Error("profile: '" + where + "." + name + "' is not a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    throw Error("profile: '" + where + "." + name + "' = " + v.dump() + " is out of range [" + json(lo).dump() +
                ", " + json(hi).dump() + "]");
  return x;
}

int64_t integer(const json& j, const char* name, const std::string& where, int64_t lo, int64_t hi) {
  const json& v = field(j, name, where);
  if (!v.is_number_integer()) throw Error("profile: '" + where + "." + name + "' is not an integer");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    throw Error("profile: '" + where + "." + name + "' = " + std::to_string(x) + " is out of range [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::string text(const json& j, const char* name, const std::string& where) {
  const json& v = field(j, name, where);
  if (!v.is_string()) throw Error("profile: '" + where + "." + name + "' is not a string");
  return v.get<std::string>();
}

bool boolean(const json& j, const char* name, const std::string& where) {
  const json& v = field(j, name, where);
  if (!v.is_boolean()) throw Error("profile: '" + where + "." + name + "' is not true or false");
  return v.get<bool>();
}

constexpr double kMaxGflops = 1e6;  // far above any CPU, below nonsense
constexpr double kMaxGbs = 1e5;

json bandwidth_json(const std::vector<BandwidthPoint>& v) {
  json a = json::array();
  for (const auto& b : v)
    a.push_back({{"level", b.level}, {"bytes", b.bytes}, {"copy_gbs", b.copy_gbs}, {"triad_gbs", b.triad_gbs}});
  return a;
}

std::vector<BandwidthPoint> bandwidth_from(const json& j, const char* name) {
  const json& a = field(j, name, "limits");
  if (!a.is_array() || a.size() > 16) throw Error(std::string("profile: 'limits.") + name + "' is not an array of at most 16");
  std::vector<BandwidthPoint> v;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string where = std::string("limits.") + name + "[" + std::to_string(i) + "]";
    BandwidthPoint b;
    b.level = text(a[i], "level", where);
    b.bytes = integer(a[i], "bytes", where, 1, int64_t{1} << 40);
    b.copy_gbs = number(a[i], "copy_gbs", where, 0, kMaxGbs);
    b.triad_gbs = number(a[i], "triad_gbs", where, 0, kMaxGbs);
    v.push_back(std::move(b));
  }
  return v;
}

}  // namespace

std::string profile_key(Isa isa) {
  const CpuInfo& c = cpu_info();
  return c.vendor + "|" + c.model + "|" + isa_name(isa) + "|" + std::to_string(c.physical_cores) + " cores|L1d " +
         std::to_string(c.l1d_bytes) + "|L2 " + std::to_string(c.l2_bytes) + "|L3 " + std::to_string(c.l3_bytes);
}

std::string default_profile_path(Isa isa) {
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = x;
  else if (const char* h = std::getenv("HOME"); h && *h) dir = std::string(h) + "/.cache";
  else return {};
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(profile_key(isa))));
  return dir + "/nabla/profile-" + isa_name(isa) + "-" + hash + ".json";
}

std::string profile_to_json(const Profile& p) {
  const GemmConfig& g = p.gemm;
  json shapes = json::array();
  for (const auto& s : p.shapes)
    shapes.push_back({{"m", s.m}, {"n", s.n}, {"k", s.k}, {"ta", s.ta}, {"tb", s.tb}, {"threads", s.threads},
                      {"default_gflops", s.default_gflops}, {"tuned_gflops", s.tuned_gflops}});
  json conv = json::array();
  for (const auto& c : p.conv)
    conv.push_back({{"n", c.n}, {"c_in", c.c_in}, {"h", c.h}, {"w", c.w}, {"c_out", c.c_out}, {"kh", c.kh},
                    {"kw", c.kw}, {"stride", {c.stride_h, c.stride_w}}, {"pad", {c.pad_h, c.pad_w}},
                    {"dilation", {c.dil_h, c.dil_w}}, {"pass", c.pass}, {"variant", c.variant},
                    {"threads", c.threads}, {"default_ms", c.default_ms}, {"tuned_ms", c.tuned_ms}});
  const json j = {
      {"format", kFormat},
      {"key", p.key},
      {"isa", isa_name(p.isa)},
      {"created", p.created},
      {"noise", p.noise},
      {"gemm",
       {{"auto_tile", g.auto_tile}, {"mr", g.mr}, {"nr", g.nr}, {"mc", g.mc}, {"kc", g.kc}, {"nc", g.nc},
        {"small_flops", g.small_flops}, {"parallel_flops", g.parallel_flops}, {"task_flops", g.task_flops}}},
      {"limits",
       {{"threads", p.limits.threads},
        {"peak_gflops_1", p.limits.peak_gflops_1},
        {"peak_gflops_all", p.limits.peak_gflops_all},
        {"bandwidth_1", bandwidth_json(p.limits.bandwidth_1)},
        {"bandwidth_all", bandwidth_json(p.limits.bandwidth_all)}}},
      {"shapes", shapes},
      {"conv", conv}};
  return j.dump(2) + "\n";
}

Profile profile_from_json(std::string_view text_in) {
  json j;
  try {
    j = json::parse(text_in.begin(), text_in.end());
  } catch (const json::exception& e) {
    throw Error(std::string("profile: not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw Error("profile: not a JSON object");
  const int64_t format = integer(j, "format", "", kFormat, kFormat);
  (void)format;
  Profile p;
  p.key = text(j, "key", "");
  p.isa = parse_isa(text(j, "isa", ""));
  p.created = j.contains("created") ? text(j, "created", "") : std::string();
  p.noise = number(j, "noise", "", 0, 1);
  const json& g = field(j, "gemm", "");
  GemmConfig& c = p.gemm;
  c.auto_tile = boolean(g, "auto_tile", "gemm");
  c.mr = static_cast<int>(integer(g, "mr", "gemm", 1, 64));
  c.nr = static_cast<int>(integer(g, "nr", "gemm", 1, 256));
  c.mc = integer(g, "mc", "gemm", 1, int64_t{1} << 16);
  c.kc = integer(g, "kc", "gemm", 1, int64_t{1} << 16);
  c.nc = integer(g, "nc", "gemm", 1, int64_t{1} << 20);
  c.small_flops = number(g, "small_flops", "gemm", 0, 1e15);
  c.parallel_flops = number(g, "parallel_flops", "gemm", 0, 1e15);
  c.task_flops = number(g, "task_flops", "gemm", 1e3, 1e15);
  try {
    check_gemm_blocking(c);
  } catch (const Error& e) {
    throw Error(std::string("profile: ") + e.what());
  }
  const json& l = field(j, "limits", "");
  p.limits.threads = static_cast<int>(integer(l, "threads", "limits", 1, 1 << 16));
  p.limits.peak_gflops_1 = number(l, "peak_gflops_1", "limits", 1e-3, kMaxGflops);
  p.limits.peak_gflops_all = number(l, "peak_gflops_all", "limits", 1e-3, kMaxGflops);
  p.limits.bandwidth_1 = bandwidth_from(l, "bandwidth_1");
  p.limits.bandwidth_all = bandwidth_from(l, "bandwidth_all");
  if (j.contains("shapes")) {
    const json& a = j["shapes"];
    if (!a.is_array()) throw Error("profile: 'shapes' is not an array");
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string where = "shapes[" + std::to_string(i) + "]";
      TunedShape s;
      s.m = integer(a[i], "m", where, 1, int64_t{1} << 40);
      s.n = integer(a[i], "n", where, 1, int64_t{1} << 40);
      s.k = integer(a[i], "k", where, 0, int64_t{1} << 40);
      s.ta = boolean(a[i], "ta", where);
      s.tb = boolean(a[i], "tb", where);
      s.threads = static_cast<int>(integer(a[i], "threads", where, 1, 1 << 16));
      s.default_gflops = number(a[i], "default_gflops", where, 0, kMaxGflops);
      s.tuned_gflops = number(a[i], "tuned_gflops", where, 0, kMaxGflops);
      p.shapes.push_back(s);
    }
  }
  if (j.contains("conv")) {
    const json& a = j["conv"];
    if (!a.is_array()) throw Error("profile: 'conv' is not an array");
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string where = "conv[" + std::to_string(i) + "]";
      constexpr int64_t kMax = int64_t{1} << 24;
      ConvChoice c;
      c.n = integer(a[i], "n", where, 1, kMax);
      c.c_in = integer(a[i], "c_in", where, 1, kMax);
      c.h = integer(a[i], "h", where, 1, kMax);
      c.w = integer(a[i], "w", where, 1, kMax);
      c.c_out = integer(a[i], "c_out", where, 1, kMax);
      c.kh = integer(a[i], "kh", where, 1, kMax);
      c.kw = integer(a[i], "kw", where, 1, kMax);
      // [h, w] pairs.
      auto pair = [&](const char* name, int64_t lo, int64_t& y, int64_t& x) {
        const json& v = field(a[i], name, where);
        if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer())
          throw Error("profile: '" + where + "." + name + "' is not a pair of integers");
        y = v[0].get<int64_t>(), x = v[1].get<int64_t>();
        if (y < lo || x < lo || y > kMax || x > kMax)
          throw Error("profile: '" + where + "." + name + "' = " + v.dump() + " is out of range [" +
                      std::to_string(lo) + ", " + std::to_string(kMax) + "]");
      };
      pair("stride", 1, c.stride_h, c.stride_w);
      pair("pad", 0, c.pad_h, c.pad_w);
      pair("dilation", 1, c.dil_h, c.dil_w);
      c.pass = text(a[i], "pass", where);
      if (c.pass != "forward" && c.pass != "backward-data" && c.pass != "backward-weights")
        throw Error("profile: '" + where + ".pass' = \"" + c.pass +
                    "\" is not forward, backward-data or backward-weights");
      c.variant = text(a[i], "variant", where);
      if (c.variant.empty()) throw Error("profile: '" + where + ".variant' is empty");
      c.threads = static_cast<int>(integer(a[i], "threads", where, 1, 1 << 16));
      c.default_ms = number(a[i], "default_ms", where, 0, 1e9);
      c.tuned_ms = number(a[i], "tuned_ms", where, 0, 1e9);
      p.conv.push_back(c);
    }
  }
  return p;
}

Profile load_profile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("'" + path + "': cannot open");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("'" + path + "': read error");
  if (s.size() > (size_t{16} << 20)) throw Error("'" + path + "': larger than 16 MiB, not a profile");
  try {
    return profile_from_json(s);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
}

void save_profile(const Profile& p, const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("'" + path + "': cannot create directory '" + dir.string() + "': " + ec.message());
  write_file_atomic(path, profile_to_json(p));
}

void check_gemm_blocking(const GemmConfig& cfg) {
  if (cfg.kc < 1 || cfg.mr < 1 || cfg.nr < 1 || cfg.mc < cfg.mr || cfg.nc < cfg.nr || cfg.mc % cfg.mr ||
      cfg.nc % cfg.nr)
    throw Error("GEMM configuration: invalid blocking " + to_string(cfg) +
                " (need kc >= 1, mc a positive multiple of mr, nc of nr)");
  if (!(cfg.small_flops >= 0) || !(cfg.parallel_flops >= 0) || !(cfg.task_flops > 0))
    throw Error("GEMM configuration: thresholds must be numbers, small_flops and parallel_flops >= 0, task_flops > 0");
}

std::string to_string(const GemmConfig& c) {
  return std::string(c.auto_tile ? "tile per shape (default " : "tile ") + std::to_string(c.mr) + "x" +
         std::to_string(c.nr) + (c.auto_tile ? ")" : "") + " mc=" + std::to_string(c.mc) +
         " kc=" + std::to_string(c.kc) + " nc=" + std::to_string(c.nc);
}

namespace {

// Looks the profile of an ISA up as profile.hpp describes; never throws.
ProfileStatus find_profile(Isa isa) {
  ProfileStatus st;
  const char* env = std::getenv("NABLA_PROFILE");
  if (env && std::string_view(env) == "off") {
    st.message = "disabled by NABLA_PROFILE=off";
    return st;
  }
  const bool named = env && *env;
  st.path = named ? std::string(env) : default_profile_path(isa);
  if (st.path.empty()) {
    st.message = "no cache directory (neither XDG_CACHE_HOME nor HOME is set)";
    return st;
  }
  std::error_code ec;
  if (!named && !std::filesystem::exists(st.path, ec)) {
    st.message = "none for this CPU (run `nabla tune`)";
    return st;
  }
  try {
    Profile p = load_profile(st.path);
    if (p.isa != isa) throw Error("'" + st.path + "': made for " + isa_name(p.isa) + ", not " + isa_name(isa));
    if (p.key != profile_key(isa))
      throw Error("'" + st.path + "': made for another CPU (" + p.key + "; this one is " + profile_key(isa) + ")");
    st.profile = std::move(p);
    st.message = "loaded";
  } catch (const std::exception& e) {
    st.message = std::string("ignored: ") + e.what();
    std::fprintf(stderr, "nabla: warning: tuning profile ignored: %s\n", e.what());
  }
  return st;
}

// The lookup runs once per ISA (reset_profile_status forgets it).
std::mutex g_status_mutex;
std::array<std::optional<ProfileStatus>, 3> g_status;

}  // namespace

ProfileStatus profile_status(Isa isa) {
  const std::lock_guard lock(g_status_mutex);
  auto& st = g_status[static_cast<int>(isa)];
  if (!st) st = find_profile(isa);
  return *st;
}

namespace detail {

std::atomic<uint64_t> g_generation{0};

void reject_profile(Isa isa, const std::string& why) {
  const std::lock_guard lock(g_status_mutex);
  auto& st = g_status[static_cast<int>(isa)];
  if (!st) st = ProfileStatus{};
  st->profile.reset();
  st->message = "ignored: " + why;
  g_generation.fetch_add(1, std::memory_order_release);
}

void reset_profile_status() {
  const std::lock_guard lock(g_status_mutex);
  for (auto& st : g_status) st.reset();
  g_generation.fetch_add(1, std::memory_order_release);
}

uint64_t profile_generation() { return g_generation.load(std::memory_order_acquire); }

}  // namespace detail
}  // namespace nabla
