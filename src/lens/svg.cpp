// Minimal SVG charts for the lens report: axes with "nice" ticks (linear or log10),
// scatter points, polylines, grouped bars, a legend. Pure string output, no dependencies.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "kllens/lens.h"

namespace kllens {

namespace {

constexpr double kW = 720, kH = 440, kL = 80, kR = 180, kT = 40, kB = 60;  // canvas, margins
const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                         "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double map(double v, double a, double b) const {  // value → pixel in [a, b]
    const double t = log ? (std::log10(v) - lo) / (hi - lo) : (v - lo) / (hi - lo);
    return a + t * (b - a);
  }
  std::vector<double> ticks() const {  // tick values (in data units)
    std::vector<double> t;
    if (log) {
      for (double e = std::floor(lo); e <= std::ceil(hi) + 1e-9; e += 1)
        if (e >= lo - 1e-9 && e <= hi + 1e-9) t.push_back(std::pow(10.0, e));
      return t;
    }
    const double span = hi - lo, raw = span / 6, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
    for (double v = std::ceil(lo / step) * step; v <= hi + 1e-12 * span; v += step) t.push_back(v);
    return t;
  }
};

Axis fit(std::vector<double> v, bool log) {
  Axis a;
  a.log = log;
  if (log) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !(x > 0) || !std::isfinite(x); }), v.end());
    for (double& x : v) x = std::log10(x);
  } else {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  }
  if (v.empty()) return a;
  a.lo = *std::min_element(v.begin(), v.end());
  a.hi = *std::max_element(v.begin(), v.end());
  if (a.hi - a.lo < 1e-12 * std::max(1.0, std::fabs(a.hi))) { a.lo -= 0.5; a.hi += 0.5; }
  const double pad = 0.05 * (a.hi - a.lo);
  a.lo -= pad;
  a.hi += pad;
  if (log) { a.lo = std::floor(a.lo * 2) / 2; a.hi = std::ceil(a.hi * 2) / 2; }
  return a;
}

std::string tick_label(double v) {
  if (v != 0 && (std::fabs(v) < 1e-3 || std::fabs(v) >= 1e5)) return fmt::format("{:.0e}", v);
  return fmt::format("{:g}", v);
}

std::string frame(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                  const Axis& x, const Axis& y, bool xticks) {
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      kW, kH);
  s += fmt::format("<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
                   (kL + kW - kR) / 2, esc(title));
  const double x0 = kL, x1 = kW - kR, y0 = kH - kB, y1 = kT;
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", x0, y1, x1 - x0, y0 - y1);
  for (double v : y.ticks()) {
    const double py = y.map(v, y0, y1);
    s += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>"
                     "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
                     x0, py, x1, py, x0 - 6, py + 4, tick_label(v));
  }
  if (xticks)
    for (double v : x.ticks()) {
      const double px = x.map(v, x0, x1);
      s += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#ddd\"/>"
                       "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                       px, y0, px, y1, px, y0 + 16, tick_label(v));
    }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2, kH - 14, esc(xlabel));
  s += fmt::format("<text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                   (y0 + y1) / 2, esc(ylabel));
  return s;
}

std::string legend(size_t i, const std::string& name) {
  const double y = kT + 10 + 18 * double(i);
  return fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>"
                     "<text x=\"{}\" y=\"{}\">{}</text>\n",
                     kW - kR + 12, y, kColors[i % 10], kW - kR + 28, y + 9, esc(name));
}

}  // namespace

std::string svg_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                      const std::vector<PlotSeries>& series, bool log_x, bool log_y) {
  std::vector<double> xs, ys;
  for (const auto& s : series)
    for (auto [x, y] : s.points) xs.push_back(x), ys.push_back(y);
  const Axis X = fit(xs, log_x), Y = fit(ys, log_y);
  std::string out = frame(title, xlabel, ylabel, X, Y, true);
  const double x0 = kL, x1 = kW - kR, y0 = kH - kB, y1 = kT;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    std::string poly;
    for (size_t k = 0; k < s.points.size(); ++k) {
      auto [x, y] = s.points[k];
      if ((log_x && !(x > 0)) || (log_y && !(y > 0)) || !std::isfinite(x) || !std::isfinite(y)) continue;
      const double px = X.map(x, x0, x1), py = Y.map(y, y0, y1);
      poly += fmt::format("{:.1f},{:.1f} ", px, py);
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\" fill-opacity=\"0.8\">"
                         "<title>{}</title></circle>\n",
                         px, py, kColors[i % 10], esc(k < s.labels.size() ? s.labels[k] : s.name));
      if (k < s.labels.size() && s.line)
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\" fill=\"#555\">{}</text>\n", px + 4, py - 4, esc(s.labels[k]));
    }
    if (s.line && !poly.empty())
      out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", poly, kColors[i % 10]);
    out += legend(i, s.name);
  }
  return out + "</svg>\n";
}

std::string svg_bars(const std::string& title, const std::string& ylabel, const std::vector<std::string>& labels,
                     const std::vector<std::pair<std::string, std::vector<double>>>& series, bool log_y) {
  std::vector<double> ys;
  for (const auto& s : series) ys.insert(ys.end(), s.second.begin(), s.second.end());
  Axis Y = fit(ys, log_y);
  if (!log_y) Y.lo = std::min(0.0, Y.lo);
  const Axis X;
  std::string out = frame(title, "layer", ylabel, X, Y, false);
  const double x0 = kL, x1 = kW - kR, y0 = kH - kB, y1 = kT;
  const double gw = (x1 - x0) / double(std::max<size_t>(1, labels.size()));
  const double bw = gw * 0.8 / double(std::max<size_t>(1, series.size()));
  for (size_t g = 0; g < labels.size(); ++g) {
    for (size_t i = 0; i < series.size(); ++i) {
      const double v = series[i].second[g];
      if (log_y && !(v > 0)) continue;
      const double top = Y.map(v, y0, y1), base = log_y ? y0 : Y.map(0, y0, y1);
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
                         "<title>{} {}: {:.4g}</title></rect>\n",
                         x0 + gw * double(g) + gw * 0.1 + bw * double(i), std::min(top, base), bw,
                         std::fabs(base - top), kColors[i % 10], esc(labels[g]), esc(series[i].first), v);
    }
    if (labels.size() <= 64)
      out += fmt::format("<text transform=\"translate({:.1f},{}) rotate(60)\" font-size=\"8\">{}</text>\n",
                         x0 + gw * (double(g) + 0.5), y0 + 6, esc(labels[g]));
  }
  for (size_t i = 0; i < series.size(); ++i) out += legend(i, series[i].first);
  return out + "</svg>\n";
}

}  // namespace kllens
