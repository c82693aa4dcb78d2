// Curves as PNG: training curves (loss and accuracy per epoch) and the faithfulness curves, each
// as two panels side by side.
#pragma once

#include <string>
#include <vector>

#include "sav/image/canvas.h"

namespace sav::image {

constexpr int kPlotWidth = 1000, kPlotHeight = 420;  // the whole image; each panel is half

// One curve: values[i] belongs to epoch i + 1; a NaN (or infinite) value is a missing point,
// where the line breaks.
struct Series {
  std::string label;
  std::vector<double> values;
  Rgb color;
};

// Draws the curves and returns the canvas (kPlotWidth x kPlotHeight): "loss" on the left,
// "accuracy (%)" on the right. Both panels share the x axis, epochs 1 .. the longest series;
// each has a frame with tick labels and light grid lines, a legend of its series' labels in
// their colours, and per series a line through consecutive points with a small square at each
// point, so a single epoch still shows. The loss axis runs from 0 (or the lowest value, when
// negative) to the highest value plus headroom, the accuracy axis from 0 to 100 (wider only
// when a value lies outside). Series may be empty, of any length, or constant.
Canvas draw_curves(const std::vector<Series>& loss, const std::vector<Series>& accuracy);

// Two panels of curves over a fraction, x from 0 to 1 (values[i] at i / (n - 1)), y a
// probability axis from 0 to 1: the faithfulness report's mean deletion and insertion curves.
// Same frame, legend and markers as draw_curves.
Canvas draw_fraction_curves(const std::string& left_title, const std::vector<Series>& left,
                            const std::string& right_title, const std::vector<Series>& right,
                            const std::string& x_name);

// draw_curves, written to `path` with write_png (atomically; throws sav::Error naming the path).
void plot_curves(const std::string& path, const std::vector<Series>& loss,
                 const std::vector<Series>& accuracy);

}  // namespace sav::image
