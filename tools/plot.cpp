// The training-curve SVG: two panels (loss, accuracy) against the epoch,
// train and test series each, drawn by hand (no plotting dependency).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/xml.hpp"
#include "trainer.hpp"

namespace nabla::cli {

namespace {

struct Series {
  const char* name;
  const char* colour;
  std::vector<double> y;  // one per epoch; NaN = absent
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}


// One panel at (x0, y0), w × h, y range [lo, hi], epochs 1..n.
std::string panel(double x0, double y0, double w, double h, const char* title, double lo, double hi,
                  const char* ylabel_fmt, const std::vector<Series>& series, int n) {
  std::string s;
  auto px = [&](double epoch) { return x0 + (n == 1 ? w / 2 : (epoch - 1) / (n - 1) * w); };
  auto py = [&](double v) { return y0 + h - (v - lo) / (hi - lo) * h; };
  s += "<text x='" + fmt("%.1f", x0 + w / 2) + "' y='" + fmt("%.1f", y0 - 12) +
       "' text-anchor='middle' font-weight='bold'>" + title + "</text>\n";
  s += "<rect x='" + fmt("%.1f", x0) + "' y='" + fmt("%.1f", y0) + "' width='" + fmt("%.1f", w) + "' height='" +
       fmt("%.1f", h) + "' fill='none' stroke='#444'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = lo + (hi - lo) * i / 4, y = py(v);
    s += "<line x1='" + fmt("%.1f", x0) + "' x2='" + fmt("%.1f", x0 + w) + "' y1='" + fmt("%.1f", y) + "' y2='" +
         fmt("%.1f", y) + "' stroke='#ddd'/>\n";
    s += "<text x='" + fmt("%.1f", x0 - 6) + "' y='" + fmt("%.1f", y + 4) + "' text-anchor='end'>" +
         fmt(ylabel_fmt, v) + "</text>\n";
  }
  const int step = std::max(1, n / 10);
  for (int e = 1; e <= n; e += step)
    s += "<text x='" + fmt("%.1f", px(e)) + "' y='" + fmt("%.1f", y0 + h + 16) + "' text-anchor='middle'>" +
         std::to_string(e) + "</text>\n";
  s += "<text x='" + fmt("%.1f", x0 + w / 2) + "' y='" + fmt("%.1f", y0 + h + 34) +
       "' text-anchor='middle'>epoch</text>\n";
  int legend = 0;
  for (const Series& ser : series) {
    std::string pts;
    for (int e = 1; e <= n; ++e) {
      const double v = ser.y[static_cast<size_t>(e - 1)];
      if (std::isnan(v)) continue;
      pts += fmt("%.1f", px(e)) + "," + fmt("%.1f", py(v)) + " ";
      s += "<circle cx='" + fmt("%.1f", px(e)) + "' cy='" + fmt("%.1f", py(v)) + "' r='3' fill='" + ser.colour + "'/>\n";
    }
    if (pts.empty()) continue;
    s += std::string("<polyline fill='none' stroke-width='2' stroke='") + ser.colour + "' points='" + pts + "'/>\n";
    const double ly = y0 + 16 + 18 * legend++;
    s += "<line x1='" + fmt("%.1f", x0 + w - 90) + "' x2='" + fmt("%.1f", x0 + w - 70) + "' y1='" +
         fmt("%.1f", ly - 4) + "' y2='" + fmt("%.1f", ly - 4) + "' stroke-width='2' stroke='" + ser.colour + "'/>\n";
    s += "<text x='" + fmt("%.1f", x0 + w - 64) + "' y='" + fmt("%.1f", ly) + "'>" + ser.name + "</text>\n";
  }
  return s;
}

}  // namespace

std::string plot_svg(const std::vector<EpochStats>& history, const std::string& title) {
  const int n = static_cast<int>(history.size());
  Series tl{"train", "#1f77b4", {}}, vl{"test", "#d62728", {}}, ta{"train", "#1f77b4", {}}, va{"test", "#d62728", {}};
  double loss_hi = 0, acc_lo = 1;
  for (const auto& e : history) {
    tl.y.push_back(e.train_loss);
    vl.y.push_back(e.test_loss);
    ta.y.push_back(100 * e.train_accuracy);
    va.y.push_back(100 * e.test_accuracy);
    for (double v : {e.train_loss, e.test_loss})
      if (std::isfinite(v)) loss_hi = std::max(loss_hi, v);
    for (double v : {e.train_accuracy, e.test_accuracy})
      if (std::isfinite(v)) acc_lo = std::min(acc_lo, v);
  }
  loss_hi = loss_hi > 0 ? loss_hi * 1.1 : 1;
  const double acc_floor = std::floor(acc_lo * 10) * 10;  // percent, to the 10 below
  std::string s =
      "<svg xmlns='http://www.w3.org/2000/svg' width='960' height='400' font-family='sans-serif' font-size='12'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='480' y='22' text-anchor='middle' font-size='14'>" + nabla::detail::xml_escape(title) + "</text>\n";
  s += panel(70, 70, 360, 260, "loss", 0, loss_hi, "%.3g", {tl, vl}, std::max(n, 1));
  s += panel(560, 70, 360, 260, "accuracy (%)", std::min(acc_floor, 90.0), 100, "%.0f", {ta, va}, std::max(n, 1));
  return s + "</svg>\n";
}

}  // namespace nabla::cli
