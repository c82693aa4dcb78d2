#include "sav/image/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "sav/image/font.h"
#include "sav/image/png.h"

namespace sav::image {
namespace {

constexpr Rgb kInk = {40, 40, 40};
constexpr Rgb kFrame = {90, 90, 90};
constexpr Rgb kGrid = {228, 228, 228};
constexpr Rgb kFaint = {150, 150, 150};
constexpr int kTitleScale = 2, kLabelScale = 1;
constexpr int kTitleY = 12;
constexpr int kPanelWidth = kPlotWidth / 2;
constexpr int kLineHeight = kGlyphHeight * kLabelScale;

// An axis from lo to hi with ticks every `step` from lo, lo and hi being multiples of step.
struct Axis {
  double lo, hi, step;
  // Tick labels in plain decimals with as many places as the step needs ("0.5", "20"), or all
  // in %g form ("1e+06") when that would be too long.
  bool plain() const { return step >= 1e-4 && std::max(std::fabs(lo), std::fabs(hi)) < 1e6; }
};

bool present(double value) { return std::isfinite(value); }

// 1, 2 or 5 times a power of ten, the smallest at least `raw` (> 0).
double nice_step(double raw) {
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  return (fraction <= 1.0 ? 1.0 : fraction <= 2.0 ? 2.0 : fraction <= 5.0 ? 5.0 : 10.0) * power;
}

// About five ticks covering [lo, hi] (lo < hi), rounded outwards to whole steps.
Axis nice_axis(double lo, double hi) {
  const double step = nice_step((hi - lo) / 5.0);
  const double slack = 1e-9;  // in steps: so that 100 / 20 does not round up to a sixth tick
  return {std::floor(lo / step + slack) * step, std::ceil(hi / step - slack) * step, step};
}

// The present values of all `series`, as [lowest, highest]; false when there are none.
bool value_bounds(const std::vector<Series>& series, double& lowest, double& highest) {
  bool any = false;
  for (const Series& s : series) {
    for (const double v : s.values) {
      if (!present(v)) continue;
      lowest = any ? std::min(lowest, v) : v;
      highest = any ? std::max(highest, v) : v;
      any = true;
    }
  }
  return any;
}

Axis loss_axis(const std::vector<Series>& series) {
  double lowest = 0.0, highest = 1.0;
  if (!value_bounds(series, lowest, highest)) return nice_axis(0.0, 1.0);
  const double lo = std::min(lowest, 0.0);
  double hi = highest + 0.05 * (highest - lo);  // headroom above the highest point
  if (!(hi > lo)) hi = lo + 1.0;                // every value 0 (or all the same below 0)
  return nice_axis(lo, hi);
}

Axis accuracy_axis(const std::vector<Series>& series) {
  double lowest = 0.0, highest = 100.0;
  value_bounds(series, lowest, highest);
  return nice_axis(std::min(lowest, 0.0), std::max(highest, 100.0));
}

// 0 to 1, wider only when a value lies outside.
Axis probability_axis(const std::vector<Series>& series) {
  double lowest = 0.0, highest = 1.0;
  value_bounds(series, lowest, highest);
  return nice_axis(std::min(lowest, 0.0), std::max(highest, 1.0));
}

std::string format_tick(double value, const Axis& axis) {
  char text[32];
  if (std::fabs(value) < axis.step * 1e-6) value = 0.0;  // no "-0.0" from rounding
  if (axis.plain()) {
    const int decimals = static_cast<int>(std::ceil(-std::log10(axis.step) - 1e-9));
    std::snprintf(text, sizeof(text), "%.*f", std::max(decimals, 0), value);
  } else {
    std::snprintf(text, sizeof(text), "%.3g", value);
  }
  return text;
}

// The epochs to label on an x axis of `epochs` epochs: 1, then every multiple of a 1-2-5 step,
// at most about eight labels.
std::vector<int> epoch_ticks(int epochs) {
  int step = 1;
  for (int scale = 1; epochs / step > 8; scale *= 10) {
    for (const int factor : {1, 2, 5, 10}) {
      step = factor * scale;
      if (epochs / step <= 8) break;
    }
  }
  std::vector<int> ticks = {1};
  for (int e = step; e <= epochs; e += step) {
    if (e > 1) ticks.push_back(e);
  }
  return ticks;
}

// Where point i of a series sits on the x axis (first + i * step), the axis's range, its
// labelled ticks and its name.
struct XScale {
  double first = 1.0, step = 1.0, lo = 0.0, hi = 2.0;
  std::vector<std::pair<double, std::string>> ticks;
  std::string name;
};

// Epochs 1 .. epochs: with one epoch the point stands in the middle; otherwise epoch 1 and the
// last epoch sit a marker's width inside the frame.
XScale epoch_scale(int epochs) {
  XScale x{1.0, 1.0, epochs > 1 ? 1.0 : 0.0, epochs > 1 ? double(epochs) : 2.0, {}, "epoch"};
  for (const int epoch : epoch_ticks(std::max(epochs, 1))) {
    x.ticks.emplace_back(epoch, std::to_string(epoch));
  }
  return x;
}

// One panel: title and legend on top, then the framed plot area [left, right] x [top, bottom].
// The panels share their top edge, set below the taller legend: measure first, then draw.
class Panel {
 public:
  Panel(Canvas& canvas, int origin_x, const std::string& title, const std::vector<Series>& series,
        Axis y_axis, XScale x_scale)
      : canvas_(canvas),
        origin_x_(origin_x),
        title_(title),
        series_(series),
        y_(y_axis),
        x_(std::move(x_scale)) {
    left_ = origin_x + 64;
    right_ = origin_x + kPanelWidth - 24;
    bottom_ = kPlotHeight - 44;
  }

  // The y just below this panel's title and legend.
  int legend_bottom() { return legend(false); }

  void draw(int top) {
    top_ = top;
    const int title_width = text_width(title_, kTitleScale);
    canvas_.draw_text(origin_x_ + (kPanelWidth - title_width) / 2, kTitleY, title_, kInk,
                      kTitleScale);
    legend(true);
    draw_axes();
    for (const Series& s : series_) draw_series(s);
    canvas_.draw_rect(left_, top_, right_ - left_ + 1, bottom_ - top_ + 1, kFrame);
    double lowest = 0.0, highest = 0.0;
    if (!value_bounds(series_, lowest, highest)) {
      const std::string note = "no data";
      canvas_.draw_text((left_ + right_ - text_width(note, kTitleScale)) / 2,
                        (top_ + bottom_) / 2 - kGlyphHeight, note, kFaint, kTitleScale);
    }
  }

 private:
  int x_of(double x) const {
    const double pad = 8.0;
    return static_cast<int>(
        std::lround(left_ + pad + (x - x_.lo) / (x_.hi - x_.lo) * (right_ - left_ - 2.0 * pad)));
  }
  int x_of_point(size_t i) const { return x_of(x_.first + static_cast<double>(i) * x_.step); }
  int y_of(double value) const {
    return static_cast<int>(
        std::lround(bottom_ - (value - y_.lo) / (y_.hi - y_.lo) * (bottom_ - top_)));
  }

  // Rows of entries (a short line with a marker, then the label in the series' colour) under
  // the title, wrapped to the plot's width, drawn or only measured; returns the y below them.
  int legend(bool draw) {
    const int sample = 22, gap = 16;
    int x = left_, y = kTitleY + kGlyphHeight * kTitleScale + 12;
    for (const Series& s : series_) {
      if (s.label.empty()) continue;
      const int entry = sample + 6 + text_width(s.label, kLabelScale);
      if (x > left_ && x + entry > right_) {
        x = left_;
        y += kLineHeight + 6;
      }
      if (draw) {
        const int middle = y + kLineHeight / 2;
        canvas_.draw_line(x, middle, x + sample, middle, s.color, 2);
        canvas_.fill_rect(x + sample / 2 - 2, middle - 2, 5, 5, s.color);
        canvas_.draw_text(x + sample + 6, y, s.label, s.color, kLabelScale);
      }
      x += entry + gap;
    }
    return y + kLineHeight;
  }

  void draw_axes() {
    const int count = static_cast<int>(std::lround((y_.hi - y_.lo) / y_.step));
    for (int i = 0; i <= count; ++i) {
      const double value = y_.lo + i * y_.step;
      const int y = y_of(value);
      canvas_.draw_line(left_, y, right_, y, kGrid);
      canvas_.draw_line(left_ - 4, y, left_, y, kFrame);
      const std::string label = format_tick(value, y_);
      canvas_.draw_text(left_ - 8 - text_width(label, kLabelScale), y - kLineHeight / 2, label,
                        kInk, kLabelScale);
    }
    for (const auto& [value, label] : x_.ticks) {
      const int x = x_of(value);
      canvas_.draw_line(x, top_ + 1, x, bottom_ - 1, kGrid);
      canvas_.draw_line(x, bottom_, x, bottom_ + 4, kFrame);
      canvas_.draw_text(x - text_width(label, kLabelScale) / 2, bottom_ + 8, label, kInk,
                        kLabelScale);
    }
    canvas_.draw_text((left_ + right_ - text_width(x_.name, kLabelScale)) / 2,
                      bottom_ + 8 + kLineHeight + 8, x_.name, kInk, kLabelScale);
  }

  void draw_series(const Series& s) {
    // Squares of 7 pixels for a lone point or a few far apart, 5 while points are well apart,
    // 3 when they crowd; when they would overlap, only points without a line through them.
    size_t points = 0;
    for (const Series& other : series_) points = std::max(points, other.values.size());
    const int spacing = points <= 1 ? kPanelWidth : x_of_point(1) - x_of_point(0);
    const int marker = spacing >= 40 ? 7 : spacing >= 8 ? 5 : 3;
    const auto present_at = [&](size_t i) { return i < s.values.size() && present(s.values[i]); };
    for (size_t i = 0; i < s.values.size(); ++i) {
      if (!present(s.values[i])) continue;
      const bool isolated = (i == 0 || !present_at(i - 1)) && !present_at(i + 1);
      const int x = x_of_point(i), y = y_of(s.values[i]);
      if (i + 1 < s.values.size() && present(s.values[i + 1])) {
        canvas_.draw_line(x, y, x_of_point(i + 1), y_of(s.values[i + 1]), s.color, 2);
      }
      if (spacing >= 4 || isolated) {
        canvas_.fill_rect(x - marker / 2, y - marker / 2, marker, marker, s.color);
      }
    }
  }

  Canvas& canvas_;
  int origin_x_;
  std::string title_;
  const std::vector<Series>& series_;
  Axis y_;
  XScale x_;
  int left_ = 0, right_ = 0, top_ = 0, bottom_ = 0;
};

int longest(const std::vector<Series>& series) {
  size_t length = 0;
  for (const Series& s : series) length = std::max(length, s.values.size());
  return static_cast<int>(length);
}

}  // namespace

Canvas draw_curves(const std::vector<Series>& loss, const std::vector<Series>& accuracy) {
  Canvas canvas(kPlotWidth, kPlotHeight);
  const int epochs = std::max(longest(loss), longest(accuracy));
  Panel left(canvas, 0, "loss", loss, loss_axis(loss), epoch_scale(epochs));
  Panel right(canvas, kPanelWidth, "accuracy (%)", accuracy, accuracy_axis(accuracy),
              epoch_scale(epochs));
  const int top = std::max(left.legend_bottom(), right.legend_bottom()) + 10;
  left.draw(top);
  right.draw(top);
  return canvas;
}

Canvas draw_fraction_curves(const std::string& left_title, const std::vector<Series>& left,
                            const std::string& right_title, const std::vector<Series>& right,
                            const std::string& x_name) {
  Canvas canvas(kPlotWidth, kPlotHeight);
  const int points = std::max(longest(left), longest(right));
  XScale x{0.0, points > 1 ? 1.0 / (points - 1) : 0.0, 0.0, 1.0, {}, x_name};
  x.ticks = {{0.0, "0"}, {0.25, "0.25"}, {0.5, "0.5"}, {0.75, "0.75"}, {1.0, "1"}};
  Panel a(canvas, 0, left_title, left, probability_axis(left), x);
  Panel b(canvas, kPanelWidth, right_title, right, probability_axis(right), x);
  const int top = std::max(a.legend_bottom(), b.legend_bottom()) + 10;
  a.draw(top);
  b.draw(top);
  return canvas;
}

void plot_curves(const std::string& path, const std::vector<Series>& loss,
                 const std::vector<Series>& accuracy) {
  write_png(path, draw_curves(loss, accuracy));
}

}  // namespace sav::image
