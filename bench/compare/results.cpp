// nabla_compare's results (see main.cpp): the rows it prints, the markdown
// tables, the JSON it writes and reads back (--from-json), the SVG plot.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "compare/compare.hpp"
#include "common/xml.hpp"

namespace nabla_compare {
namespace {

std::string us_cell(const Times& t) {
  char buf[64];
  const double spread = 100 * (t.q3 - t.q1) / 2 / t.median;
  if (t.median >= 100) std::snprintf(buf, sizeof buf, "%.0f ±%.0f%%", t.median, spread);
  else std::snprintf(buf, sizeof buf, "%.1f ±%.0f%%", t.median, spread);
  return buf;
}

}  // namespace

void print_row(const Result& r) {
  char err[32] = "";
  if (!std::isnan(r.check_error)) std::snprintf(err, sizeof err, " (err %.1e)", r.check_error);
  const std::string note = r.message.empty() || r.status == "mismatch" ? "" : "; " + r.message;
  if (r.status == "ok")
    std::printf("%-44s %3d %-9s %16s %16s %7.2f   ok%s%s\n", r.case_name.c_str(), r.threads, peer_name(r.peer),
                us_cell(r.nabla).c_str(), us_cell(r.peer_time).c_str(), r.ratio, err, note.c_str());
  else
    std::printf("%-44s %3d %-9s %16s %16s %7s   %s%s%s\n", r.case_name.c_str(), r.threads, peer_name(r.peer), "", "",
                "", r.status.c_str(), r.status == "mismatch" ? (": " + r.message).c_str() : err, note.c_str());
  std::fflush(stdout);
}

namespace {

std::string md_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
  return o;
}

}  // namespace

void print_markdown(const std::vector<Result>& results) {
  for (Kind kind : {Kind::Train, Kind::Infer, Kind::Conv, Kind::Gemm}) {
    std::vector<Peer> peers;
    for (const Result& r : results)
      if (r.kind == kind && std::find(peers.begin(), peers.end(), r.peer) == peers.end()) peers.push_back(r.peer);
    if (peers.empty()) continue;
    std::printf("\n| %s case | threads | nabla µs |", kind_name(kind));
    for (Peer p : peers) std::printf(" %s µs | %s / nabla |", peer_name(p), peer_name(p));
    std::printf("\n| --- | --- | --- |");
    for (size_t i = 0; i < peers.size(); ++i) std::printf(" --- | --- |");
    std::printf("\n");
    // One row per (case, threads), in the order they ran.
    std::vector<std::pair<std::string, int>> rows;
    for (const Result& r : results)
      if (r.kind == kind && std::find(rows.begin(), rows.end(), std::make_pair(r.case_name, r.threads)) == rows.end())
        rows.emplace_back(r.case_name, r.threads);
    for (const auto& [name, t] : rows) {
      std::string nabla_cell = "";
      std::string cells;
      for (Peer p : peers) {
        const Result* r = nullptr;
        for (const Result& x : results)
          if (x.case_name == name && x.threads == t && x.peer == p) r = &x;
        if (!r) cells += " | |";
        else if (r->status == "ok") {
          nabla_cell = us_cell(r->nabla);
          char ratio[32];
          std::snprintf(ratio, sizeof ratio, "%.2f", r->ratio);
          cells += " " + us_cell(r->peer_time) + " | " + (r->ratio >= 1 ? std::string("**") + ratio + "**" : ratio) + " |";
        } else if (r->status == "checked") {
          char e[48];
          std::snprintf(e, sizeof e, "checked (err %.0e)", r->check_error);
          cells += std::string(" ") + e + " | |";
        } else {
          cells += " " + md_escape(r->status) + " | |";
        }
      }
      std::printf("| %s | %d | %s |%s\n", md_escape(name).c_str(), t, nabla_cell.c_str(), cells.c_str());
    }
  }
}

namespace {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

std::vector<double> load_average() {
  std::ifstream f("/proc/loadavg");
  double a = NAN, b = NAN, c = NAN;
  f >> a >> b >> c;
  return {a, b, c};
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

namespace {

nlohmann::json times_json(const Times& t) {
  return {{"median_us", t.median}, {"q1_us", t.q1},       {"q3_us", t.q3},
          {"min_us", t.min},       {"max_us", t.max},     {"samples", t.samples},
          {"calls_per_sample", t.calls}};
}

}  // namespace

void write_json(const std::string& path, const std::vector<Result>& results, const Options& o,
                const std::string& command) {
  nlohmann::json j;
  j["schema"] = "nabla-compare/1";
  j["command"] = command;
  j["date"] = utc_now();
  j["cpu"] = cpu_model();
  j["load_average"] = o.load_start;
  j["load_average_end"] = load_average();
  j["reps"] = o.reps;
  j["sample_ms"] = o.sample_ms;
  for (Peer p : kAllPeers) j["peers"][peer_name(p)] = {{"built", peer_built(p)}, {"version", peer_version(p)}};
  j["results"] = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json x = {{"case", r.case_name}, {"kind", kind_name(r.kind)}, {"threads", r.threads},
                        {"peer", peer_name(r.peer)}, {"status", r.status}};
    if (!std::isnan(r.check_error)) x["check_error"] = r.check_error;
    if (!r.message.empty()) x["message"] = r.message;
    if (r.status == "ok") {
      x["nabla"] = times_json(r.nabla);
      x["peer_time"] = times_json(r.peer_time);
      x["ratio"] = r.ratio;
    }
    j["results"].push_back(x);
  }
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  if (!f) throw std::runtime_error("cannot write " + path);
}

namespace {

Times times_from_json(const nlohmann::json& j) {
  Times t;
  t.median = j.at("median_us");
  t.q1 = j.at("q1_us");
  t.q3 = j.at("q3_us");
  t.min = j.at("min_us");
  t.max = j.at("max_us");
  t.samples = j.at("samples");
  t.calls = j.at("calls_per_sample");
  return t;
}

/// The results of earlier --json files, in order (what --from-json prints).
std::vector<Result> read_json(const std::vector<std::string>& paths) {
  std::vector<Result> out;
  for (const std::string& path : paths) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot read " + path);
    const nlohmann::json j = nlohmann::json::parse(f);
    if (j.value("schema", "") != "nabla-compare/1") throw std::runtime_error(path + ": not a nabla-compare/1 file");
    for (const auto& x : j.at("results")) {
      Result r;
      r.case_name = x.at("case");
      const std::string kind = x.at("kind"), peer = x.at("peer");
      for (Kind k : {Kind::Train, Kind::Infer, Kind::Conv, Kind::Gemm})
        if (kind == kind_name(k)) r.kind = k;
      for (Peer p : kAllPeers)
        if (peer == peer_name(p)) r.peer = p;
      r.threads = x.at("threads");
      r.status = x.at("status");
      r.check_error = x.value("check_error", static_cast<double>(NAN));
      r.message = x.value("message", "");
      if (r.status == "ok") {
        r.nabla = times_from_json(x.at("nabla"));
        r.peer_time = times_from_json(x.at("peer_time"));
        r.ratio = x.at("ratio");
      }
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace

/// Horizontal bars: one per (case, threads, peer) with a time, length
/// log2(ratio) from the 1× line, one colour per peer.
void write_svg(const std::string& path, const std::vector<Result>& results) {
  std::vector<const Result*> rows;
  for (const Result& r : results)
    if (r.status == "ok" && r.ratio > 0) rows.push_back(&r);
  double lo = 0.5, hi = 2;
  for (const Result* r : rows) lo = std::min(lo, r->ratio), hi = std::max(hi, r->ratio);
  const double l2lo = std::floor(std::log2(lo)), l2hi = std::ceil(std::log2(hi));
  const int label_w = 330, plot_w = 520, row_h = 12, top = 40, bottom = 30;
  const int width = label_w + plot_w + 40, height = top + bottom + row_h * static_cast<int>(rows.size());
  auto x_of = [&](double ratio) {
    return label_w + plot_w * (std::log2(ratio) - l2lo) / (l2hi - l2lo);
  };
  const std::map<Peer, const char*> colour = {{Peer::OpenBlas, "#4c72b0"}, {Peer::OneDnn, "#dd8452"},
                                              {Peer::Torch, "#55a868"}};
  std::ostringstream s;
  char buf[512];
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                "font-size=\"10\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                width, height);
  s << buf;
  s << "<text x=\"10\" y=\"16\" font-size=\"13\">nabla_compare: speed-up of nabla = peer time / nabla time "
       "(log scale; right of the line: nabla faster)</text>\n";
  int lx = label_w;
  for (Peer p : kAllPeers) {
    std::snprintf(buf, sizeof buf, "<rect x=\"%d\" y=\"22\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"31\">%s</text>\n",
                  lx, colour.at(p), lx + 14, peer_name(p));
    s << buf;
    lx += 90;
  }
  for (double e = l2lo; e <= l2hi; ++e) {
    const double x = x_of(std::exp2(e));
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%s\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g×</text>\n",
                  x, top - 4, x, height - bottom + 4, e == 0 ? "black" : "#ddd", e == 0 ? "1.5" : "1", x,
                  height - bottom + 16, std::exp2(e));
    s << buf;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const Result& r = *rows[i];
    const double y = top + row_h * static_cast<double>(i);
    const double x1 = x_of(1), x2 = x_of(r.ratio);
    std::snprintf(buf, sizeof buf,
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s, %d thr, %s</text>"
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"9\">%.2f</text>\n",
                  label_w - 6, y + row_h - 3, nabla::detail::xml_escape(r.case_name).c_str(), r.threads, peer_name(r.peer),
                  std::min(x1, x2), y + 1, std::abs(x2 - x1), row_h - 2, colour.at(r.peer),
                  r.ratio >= 1 ? x2 + 3 : x2 - 3, y + row_h - 3, r.ratio >= 1 ? "start" : "end", r.ratio);
    s << buf;
  }
  std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                x_of(1), top - 4, x_of(1), height - bottom + 4);
  s << buf;
  s << "</svg>\n";
  std::ofstream f(path);
  f << s.str();
  if (!f) throw std::runtime_error("cannot write " + path);
}

int print_saved(const Options& o, const std::string& command) {
  try {
    // In the program's case order (then threads, then peer), --filter applied.
    std::map<std::string, size_t> order;
    for (const Case& c : all_cases()) order.emplace(c.name, order.size());
    const std::regex re(o.filter);
    std::vector<Result> results;
    for (Result& r : read_json(o.from_json))
      if (o.filter.empty() || std::regex_search(r.case_name, re)) results.push_back(std::move(r));
    auto key = [&](const Result& r) {
      const auto it = order.find(r.case_name);
      return std::make_tuple(it == order.end() ? order.size() : it->second, r.threads, static_cast<int>(r.peer));
    };
    std::stable_sort(results.begin(), results.end(),
                     [&](const Result& a, const Result& b) { return key(a) < key(b); });
    for (const Result& r : results) print_row(r);
    if (o.markdown) print_markdown(results);
    if (!o.json.empty()) write_json(o.json, results, o, command);
    if (!o.plot.empty()) write_svg(o.plot, results);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nabla_compare: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace nabla_compare
