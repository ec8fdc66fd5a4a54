// `nabla prof`'s outputs: the text table, JSON, CSV and the SVG roofline.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nabla/runtime/file.hpp"
#include "prof_internal.hpp"
#include "common/xml.hpp"
#include "trainer.hpp"

namespace nabla::cli {
namespace prof_detail {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace prof_detail

namespace {

using namespace prof_detail;

// ---- text output ----------------------------------------------------------------------

size_t width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

std::string format_time(double s) {
  if (s >= 1) return fmt("%.2f s", s);
  if (s >= 1e-3) return fmt("%.2f ms", s * 1e3);
  return fmt("%.1f us", s * 1e6);
}

std::string render(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> w(rows.front().size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) w[c] = std::max(w[c], width(r[c]));
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      const std::string pad(w[c] - width(r[c]), ' ');
      line += right[c] ? pad + r[c] : r[c] + (c + 1 < r.size() ? pad : "");
      if (c + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string row_label(const ProfRow& r) {
  std::string s = r.variant;
  if (!r.pass.empty()) s += " " + r.pass;
  return s + " " + r.shape;
}

}  // namespace

std::string prof_table(const ProfReport& r) {
  std::string out;
  const Roof roof = roof_for(r.limits, r.threads);
  out += (r.mode == "model" ? "model: " + r.model + "  batch " + std::to_string(r.batch) : "family: " + r.family) +
         "  isa " + isa_name(r.isa) + "  threads " + std::to_string(r.threads) + "\n";
  out += "limits (" + r.limits_source + "): peak " + fmt("%.1f", roof.peak) + " GFLOP/s";
  for (const auto& b : roof.bw) out += ", " + b.level + " " + fmt("%.1f", roof_gbs(b)) + " GB/s";
  out += "\n";
  if (r.mode == "model") {
    double sum = 0;
    for (const auto& row : r.rows) sum += row.seconds;
    out += "step: " + format_time(r.step_seconds) + " (median; traced " + format_time(r.traced_step_seconds) +
           ", kernels " + fmt("%.0f", r.traced_step_seconds > 0 ? 100 * sum / r.traced_step_seconds : 0) +
           "% of it)\n";
  }
  out += "\n";
  std::vector<std::vector<std::string>> rows;
  const bool model = r.mode == "model";
  std::vector<std::string> head = {"#"};
  if (model) head.insert(head.end(), {"layer", "pass", "kernel"});
  else head.insert(head.end(), {"variant", "pass"});
  head.insert(head.end(), {"shape", "time", model ? "share" : "best", "GFLOP/s", "%peak", "GB/s", "%bw", "AI"});
  rows.push_back(head);
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfRow& w = r.rows[i];
    std::vector<std::string> row = {std::to_string(i + 1)};
    if (model) row.insert(row.end(), {w.layer >= 0 ? std::to_string(w.layer) + " " + w.layer_name : w.layer_name, w.pass, w.variant});
    else row.insert(row.end(), {w.variant, w.pass.empty() ? "-" : w.pass});
    row.push_back(w.shape);
    if (!w.ok) {
      row.insert(row.end(), {"WRONG", "", "", "", "", "", fmt("%.2f", w.intensity)});
    } else {
      row.push_back(format_time(w.seconds));
      row.push_back(model ? fmt("%.1f%%", 100 * w.share) : format_time(w.best_seconds));
      row.push_back(fmt("%.1f", w.gflops));
      row.push_back(fmt("%.0f%%", w.peak_pct));
      row.push_back(fmt("%.1f", w.gbs));
      row.push_back(fmt("%.0f%% ", w.bw_pct) + w.bw_level);
      row.push_back(fmt("%.2f", w.intensity));
    }
    rows.push_back(std::move(row));
  }
  std::vector<bool> right(head.size(), false);
  right[0] = true;
  for (size_t c = head.size() - 7; c < head.size(); ++c) right[c] = true;
  out += render(rows, right);
  for (size_t i = 0; i < r.rows.size(); ++i)
    if (!r.rows[i].ok) out += "#" + std::to_string(i + 1) + " " + r.rows[i].variant + " WRONG: " + r.rows[i].error + "\n";
  out += "\nAI: arithmetic intensity (flops per byte of compulsory traffic); %bw: of the copy/triad bandwidth of the\n"
         "level the working set fits in (with " + std::to_string(r.threads) + " thread" + (r.threads == 1 ? "" : "s") + ").\n";
  return out;
}

std::string prof_json(const ProfReport& r) {
  using J = nlohmann::ordered_json;
  J j;
  j["schema"] = "nabla-prof-1";
  j["mode"] = r.mode;
  if (r.mode == "model") {
    j["model"] = r.model;
    j["batch"] = r.batch;
  } else {
    j["family"] = r.family;
  }
  j["isa"] = isa_name(r.isa);
  j["threads"] = r.threads;
  const Roof roof = roof_for(r.limits, r.threads);
  J lim;
  lim["source"] = r.limits_source;
  lim["peak_gflops"] = roof.peak;
  lim["peak_gflops_1"] = r.limits.peak_gflops_1;
  lim["peak_gflops_all"] = r.limits.peak_gflops_all;
  lim["bandwidth"] = J::array();
  for (const auto& b : roof.bw)
    lim["bandwidth"].push_back({{"level", b.level}, {"bytes", b.bytes}, {"copy_gbs", b.copy_gbs}, {"triad_gbs", b.triad_gbs}});
  j["limits"] = lim;
  if (r.mode == "model") {
    j["step_seconds"] = r.step_seconds;
    j["traced_step_seconds"] = r.traced_step_seconds;
  }
  j["rows"] = J::array();
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfRow& w = r.rows[i];
    J row;
    row["index"] = i + 1;
    row["layer"] = w.layer;
    row["layer_name"] = w.layer_name;
    row["pass"] = w.pass;
    row["variant"] = w.variant;
    row["shape"] = w.shape;
    row["status"] = w.ok ? "ok" : "wrong";
    row["error"] = w.error;
    auto timed = [&](double v) { return w.ok ? J(v) : J(nullptr); };
    row["seconds"] = timed(w.seconds);
    row["best_seconds"] = timed(w.best_seconds);
    row["flops"] = w.flops;
    row["bytes"] = w.bytes;
    row["gflops"] = timed(w.gflops);
    row["peak_pct"] = timed(w.peak_pct);
    row["gbs"] = timed(w.gbs);
    row["bw_level"] = w.bw_level;
    row["bw_pct"] = timed(w.bw_pct);
    row["intensity"] = w.intensity;
    row["share"] = timed(w.share);
    j["rows"].push_back(std::move(row));
  }
  return j.dump(2) + "\n";
}

std::string prof_csv(const ProfReport& r) {
  std::string out =
      "index,layer,layer_name,pass,variant,shape,status,seconds,best_seconds,flops,bytes,gflops,peak_pct,gbs,"
      "bw_level,bw_pct,intensity,share\n";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ProfRow& w = r.rows[i];
    auto num = [&](double v) { return w.ok ? fmt("%.6g", v) : std::string(); };
    out += std::to_string(i + 1) + "," + std::to_string(w.layer) + "," + csv_field(w.layer_name) + "," +
           csv_field(w.pass) + "," + csv_field(w.variant) + "," + csv_field(w.shape) + "," + (w.ok ? "ok" : "wrong") +
           "," + num(w.seconds) + "," + num(w.best_seconds) + "," + fmt("%.6g", w.flops) + "," + fmt("%.6g", w.bytes) +
           "," + num(w.gflops) + "," + num(w.peak_pct) + "," + num(w.gbs) + "," + w.bw_level + "," + num(w.bw_pct) +
           "," + fmt("%.6g", w.intensity) + "," + num(w.share) + "\n";
  }
  return out;
}

std::string prof_roofline_svg(const ProfReport& r) {
  const Roof roof = roof_for(r.limits, r.threads);
  std::vector<size_t> pts;  // indices of the timed rows
  for (size_t i = 0; i < r.rows.size(); ++i)
    if (r.rows[i].ok && r.rows[i].gflops > 0 && r.rows[i].intensity > 0) pts.push_back(i);
  const double peak = roof.peak > 0 ? roof.peak : 1;
  double ai_lo = 0.05, ai_hi = 10, g_lo = peak / 1000, g_hi = peak;
  for (size_t i : pts) {
    ai_lo = std::min(ai_lo, r.rows[i].intensity);
    ai_hi = std::max(ai_hi, r.rows[i].intensity);
    g_lo = std::min(g_lo, r.rows[i].gflops);
    g_hi = std::max(g_hi, r.rows[i].gflops);
  }
  for (const auto& b : roof.bw)
    if (roof_gbs(b) > 0) ai_hi = std::max(ai_hi, peak / roof_gbs(b));
  const double lx0 = std::floor(std::log10(ai_lo)), lx1 = std::ceil(std::log10(ai_hi * 1.5));
  const double ly0 = std::floor(std::log10(g_lo)), ly1 = std::ceil(std::log10(g_hi * 1.5));
  const double px0 = 80, px1 = 620, py0 = 50, py1 = 470;
  auto X = [&](double ai) { return px0 + (std::log10(ai) - lx0) / (lx1 - lx0) * (px1 - px0); };
  auto Y = [&](double g) { return py1 - (std::log10(g) - ly0) / (ly1 - ly0) * (py1 - py0); };
  const double legend_h = 60 + 13.0 * static_cast<double>(pts.size());
  const double H = std::max(540.0, legend_h);
  std::ostringstream s;
  auto f1 = [](double v) { return fmt("%.1f", v); };
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1200\" height=\"" << f1(H) << "\" viewBox=\"0 0 1200 "
    << f1(H) << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"1200\" height=\"" << f1(H) << "\" fill=\"white\"/>\n";
  const std::string title = "nabla prof " + (r.mode == "model" ? "--model " + r.model : r.family) + ": roofline, " +
                            isa_name(r.isa) + ", " + std::to_string(r.threads) + " thread" + (r.threads == 1 ? "" : "s");
  s << "<text x=\"" << f1(px0) << "\" y=\"25\" font-size=\"14\">" << nabla::detail::xml_escape(title) << "</text>\n";
  // Grid and axes: one line per decade.
  for (double e = lx0; e <= lx1; e += 1) {
    s << "<line x1=\"" << f1(X(std::pow(10, e))) << "\" y1=\"" << f1(py0) << "\" x2=\"" << f1(X(std::pow(10, e)))
      << "\" y2=\"" << f1(py1) << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << f1(X(std::pow(10, e))) << "\" y=\"" << f1(py1 + 15) << "\" text-anchor=\"middle\">"
      << nabla::detail::xml_escape(fmt("%g", std::pow(10, e))) << "</text>\n";
  }
  for (double e = ly0; e <= ly1; e += 1) {
    s << "<line x1=\"" << f1(px0) << "\" y1=\"" << f1(Y(std::pow(10, e))) << "\" x2=\"" << f1(px1) << "\" y2=\""
      << f1(Y(std::pow(10, e))) << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << f1(px0 - 5) << "\" y=\"" << f1(Y(std::pow(10, e)) + 4) << "\" text-anchor=\"end\">"
      << nabla::detail::xml_escape(fmt("%g", std::pow(10, e))) << "</text>\n";
  }
  s << "<rect x=\"" << f1(px0) << "\" y=\"" << f1(py0) << "\" width=\"" << f1(px1 - px0) << "\" height=\""
    << f1(py1 - py0) << "\" fill=\"none\" stroke=\"black\"/>\n";
  s << "<text x=\"" << f1((px0 + px1) / 2) << "\" y=\"" << f1(py1 + 35)
    << "\" text-anchor=\"middle\">arithmetic intensity (flop/byte)</text>\n";
  s << "<text x=\"20\" y=\"" << f1((py0 + py1) / 2) << "\" text-anchor=\"middle\" transform=\"rotate(-90 20 "
    << f1((py0 + py1) / 2) << ")\">GFLOP/s</text>\n";
  // Roofs: y = bw·x up to the ridge (peak / bw), then the peak.
  const char* colours[] = {"#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  double ridge_min = std::pow(10, lx1);
  for (size_t b = 0; b < roof.bw.size(); ++b) {
    const double bw = roof_gbs(roof.bw[b]);
    if (!(bw > 0)) continue;
    const double ridge = peak / bw;
    ridge_min = std::min(ridge_min, ridge);
    const double xs = std::max(std::pow(10, lx0), std::pow(10, ly0) / bw);
    const char* col = colours[b % 5];
    s << "<line class=\"roof\" x1=\"" << f1(X(xs)) << "\" y1=\"" << f1(Y(bw * xs)) << "\" x2=\"" << f1(X(ridge))
      << "\" y2=\"" << f1(Y(peak)) << "\" stroke=\"" << col << "\" stroke-width=\"1.5\"/>\n";
    s << "<text x=\"" << f1(X(xs) + 4) << "\" y=\"" << f1(Y(bw * xs) - 6) << "\" fill=\"" << col << "\">"
      << nabla::detail::xml_escape(roof.bw[b].level + " " + fmt("%.0f", bw) + " GB/s") << "</text>\n";
  }
  s << "<line class=\"roof\" x1=\"" << f1(X(std::min(ridge_min, std::pow(10, lx1)))) << "\" y1=\"" << f1(Y(peak))
    << "\" x2=\"" << f1(px1) << "\" y2=\"" << f1(Y(peak)) << "\" stroke=\"#d62728\" stroke-width=\"2\"/>\n";
  s << "<text x=\"" << f1(px1 - 4) << "\" y=\"" << f1(Y(peak) - 6) << "\" text-anchor=\"end\" fill=\"#d62728\">"
    << nabla::detail::xml_escape("peak " + fmt("%.1f", peak) + " GFLOP/s") << "</text>\n";
  // Points, numbered; the legend names them.
  s << "<text x=\"650\" y=\"50\" font-weight=\"bold\">" << nabla::detail::xml_escape("#  variant  pass  shape  GFLOP/s") << "</text>\n";
  for (size_t p = 0; p < pts.size(); ++p) {
    const ProfRow& w = r.rows[pts[p]];
    const std::string num = std::to_string(pts[p] + 1);
    const double cx = X(w.intensity), cy = Y(w.gflops);
    s << "<circle class=\"point\" cx=\"" << f1(cx) << "\" cy=\"" << f1(cy)
      << "\" r=\"3.5\" fill=\"#444\"><title>" << nabla::detail::xml_escape(num + " " + row_label(w)) << "</title></circle>\n";
    s << "<text x=\"" << f1(cx + 5) << "\" y=\"" << f1(cy + (p % 2 ? 11 : -4)) << "\" font-size=\"9\">" << num
      << "</text>\n";
    std::string label = num + "  " + (w.layer >= 0 ? "L" + std::to_string(w.layer) + " " : "") + row_label(w) + "  " +
                        fmt("%.1f", w.gflops);
    s << "<text x=\"650\" y=\"" << f1(66 + 13.0 * static_cast<double>(p)) << "\" font-size=\"10\">" << nabla::detail::xml_escape(label)
      << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

void write_prof_outputs(const ProfReport& r, const ProfOptions& o) {
  if (!o.json.empty()) write_file_atomic(o.json, prof_json(r));
  if (!o.csv.empty()) write_file_atomic(o.csv, prof_csv(r));
  if (!o.roofline.empty()) write_file_atomic(o.roofline, prof_roofline_svg(r));
}

}  // namespace nabla::cli
