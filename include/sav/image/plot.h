// Training curves: loss and accuracy per epoch, as one PNG of two panels side by side.
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

// draw_curves, written to `path` with write_png (atomically; throws sav::Error naming the path).
void plot_curves(const std::string& path, const std::vector<Series>& loss,
                 const std::vector<Series>& accuracy);

}  // namespace sav::image
