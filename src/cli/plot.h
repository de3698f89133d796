#pragma once
// Training curves as a self-contained SVG: loss (left axis) and accuracy (right axis) per epoch.
#include <string>
#include <vector>

namespace kiln::cli {

struct Curve {
  std::string label;
  std::vector<double> values;
  std::string color;  // "#1f77b4"
  bool right_axis;    // accuracy in [0, 1] on the right
};

// Writes the plot to `path` (atomically); throws kiln::Error when the file cannot be written.
void write_svg_plot(const std::string& path, const std::string& title,
                    const std::vector<Curve>& curves);

}  // namespace kiln::cli
