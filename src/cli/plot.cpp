#include "cli/plot.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kiln/io/file.h"

namespace kiln::cli {

namespace {
constexpr double kW = 720, kH = 420, kLeft = 70, kRight = 70, kTop = 50, kBottom = 60;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else
      out += c;
  }
  return out;
}
}  // namespace

void write_svg_plot(const std::string& path, const std::string& title,
                    const std::vector<Curve>& curves) {
  size_t n = 0;
  double lmax = 0;
  for (const Curve& c : curves) {
    n = std::max(n, c.values.size());
    if (!c.right_axis)
      for (double v : c.values)
        if (std::isfinite(v)) lmax = std::max(lmax, v);
  }
  if (lmax <= 0) lmax = 1;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto x_of = [&](size_t i) { return kLeft + (n > 1 ? pw * double(i) / double(n - 1) : pw / 2); };
  auto y_of = [&](double v, bool right) {
    double frac = right ? v : v / lmax;
    return kTop + ph * (1 - std::clamp(frac, 0.0, 1.0));
  };

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << kW / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">"
    << escape(title) << "</text>\n";
  // Axes, ticks and grid.
  s << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (int k = 0; k <= 4; ++k) {
    double y = kTop + ph * (1 - k / 4.0);
    s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << y << "\" y2=\"" << y
      << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << kLeft - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
      << std::round(lmax * k / 4.0 * 1000) / 1000 << "</text>\n";
    s << "<text x=\"" << kLeft + pw + 8 << "\" y=\"" << y + 4 << "\">" << k * 25 << "%</text>\n";
  }
  for (size_t i = 0; i < n; ++i) {
    s << "<text x=\"" << x_of(i) << "\" y=\"" << kTop + ph + 18 << "\" text-anchor=\"middle\">"
      << i + 1 << "</text>\n";
  }
  s << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kH - 18
    << "\" text-anchor=\"middle\">epoch</text>\n";
  s << "<text x=\"18\" y=\"" << kTop + ph / 2 << "\" transform=\"rotate(-90 18 " << kTop + ph / 2
    << ")\" text-anchor=\"middle\">loss</text>\n";
  s << "<text x=\"" << kW - 14 << "\" y=\"" << kTop + ph / 2 << "\" transform=\"rotate(90 "
    << kW - 14 << " " << kTop + ph / 2 << ")\" text-anchor=\"middle\">accuracy</text>\n";
  // Curves and legend.
  for (size_t c = 0; c < curves.size(); ++c) {
    const Curve& cv = curves[c];
    s << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << cv.color << "\" points=\"";
    for (size_t i = 0; i < cv.values.size(); ++i)
      s << x_of(i) << "," << y_of(cv.values[i], cv.right_axis) << " ";
    s << "\"/>\n";
    for (size_t i = 0; i < cv.values.size(); ++i)
      s << "<circle r=\"3\" fill=\"" << cv.color << "\" cx=\"" << x_of(i) << "\" cy=\""
        << y_of(cv.values[i], cv.right_axis) << "\"/>\n";
    double ly = kTop + 16 + 16 * double(c);
    s << "<line x1=\"" << kLeft + 12 << "\" x2=\"" << kLeft + 32 << "\" y1=\"" << ly << "\" y2=\""
      << ly << "\" stroke-width=\"2\" stroke=\"" << cv.color << "\"/>\n"
      << "<text x=\"" << kLeft + 38 << "\" y=\"" << ly + 4 << "\">" << escape(cv.label)
      << "</text>\n";
  }
  s << "</svg>\n";
  io::write_file_atomically(path, s.str());
}

}  // namespace kiln::cli
