#include "sav/image/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "sav/error.h"
#include "sav/image/font.h"

namespace sav::image {
namespace {

// Liang-Barsky: shortens the segment (x0, y0)-(x1, y1) to the part inside the box
// [lo_x, hi_x] x [lo_y, hi_y]; false when no part is inside.
bool clip_segment(double lo_x, double lo_y, double hi_x, double hi_y, double& x0, double& y0,
                  double& x1, double& y1) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {x0 - lo_x, hi_x - x0, y0 - lo_y, hi_y - y0};
  double enter = 0.0, leave = 1.0;
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0.0) {
      if (q[i] < 0.0) return false;  // parallel to this edge and outside it
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0.0) {
      enter = std::max(enter, t);
    } else {
      leave = std::min(leave, t);
    }
    if (enter > leave) return false;
  }
  const double start_x = x0, start_y = y0;
  x0 = start_x + enter * dx;
  y0 = start_y + enter * dy;
  x1 = start_x + leave * dx;
  y1 = start_y + leave * dy;
  return true;
}

}  // namespace

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  if (width < 1 || height < 1) {
    fail("Canvas: size ", width, " x ", height, " must be at least 1 x 1");
  }
  if (static_cast<int64_t>(width) * height > kMaxPixels) {
    fail("Canvas: size ", width, " x ", height, " is over the limit of ", kMaxPixels, " pixels");
  }
  pixels_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < pixels_.size(); i += 3) {
    pixels_[i] = background.r;
    pixels_[i + 1] = background.g;
    pixels_[i + 2] = background.b;
  }
}

Rgb Canvas::at(int x, int y) const {
  if (!inside(x, y)) {
    fail("Canvas::at: pixel (", x, ", ", y, ") is outside the ", width_, " x ", height_, " canvas");
  }
  const size_t i = offset(x, y);
  return {pixels_[i], pixels_[i + 1], pixels_[i + 2]};
}

void Canvas::set(int x, int y, Rgb color) {
  if (!inside(x, y)) return;
  const size_t i = offset(x, y);
  pixels_[i] = color.r;
  pixels_[i + 1] = color.g;
  pixels_[i + 2] = color.b;
}

void Canvas::fill_clipped(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb color) {
  const int left = static_cast<int>(std::max<int64_t>(x0, 0));
  const int right = static_cast<int>(std::min<int64_t>(x1, width_));
  const int top = static_cast<int>(std::max<int64_t>(y0, 0));
  const int bottom = static_cast<int>(std::min<int64_t>(y1, height_));
  for (int y = top; y < bottom; ++y) {
    for (int x = left; x < right; ++x) set(x, y, color);
  }
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb color) {
  if (w < 1 || h < 1) return;
  fill_clipped(x, y, int64_t{x} + w, int64_t{y} + h, color);
}

void Canvas::draw_rect(int x, int y, int w, int h, Rgb color, int thickness) {
  if (thickness < 1) fail("Canvas::draw_rect: thickness ", thickness, " must be at least 1");
  if (w < 1 || h < 1) return;
  const int64_t right = int64_t{x} + w, bottom = int64_t{y} + h;
  fill_clipped(x, y, right, std::min<int64_t>(y + int64_t{thickness}, bottom), color);
  fill_clipped(x, std::max<int64_t>(bottom - thickness, y), right, bottom, color);
  fill_clipped(x, y, std::min<int64_t>(x + int64_t{thickness}, right), bottom, color);
  fill_clipped(std::max<int64_t>(right - thickness, x), y, right, bottom, color);
}

void Canvas::draw_line(int x0, int y0, int x1, int y1, Rgb color, int thickness) {
  if (thickness < 1) fail("Canvas::draw_line: thickness ", thickness, " must be at least 1");
  // The square drawn at each step spans [p - before, p + after].
  const int64_t before = (thickness - 1) / 2, after = thickness - 1 - before;
  // A segment with an end far outside the canvas is first cut to the part that can show (the
  // canvas grown by the square's reach), so that it costs no more steps than the canvas is wide.
  // Ends already inside keep their exact pixels.
  const double lo_x = -after - 1.0, lo_y = -after - 1.0;
  const double hi_x = width_ + before + 0.0, hi_y = height_ + before + 0.0;
  const auto within = [&](int x, int y) {
    return x >= lo_x && x <= hi_x && y >= lo_y && y <= hi_y;
  };
  int64_t ax = x0, ay = y0, bx = x1, by = y1;
  if (!within(x0, y0) || !within(x1, y1)) {
    double cx0 = x0, cy0 = y0, cx1 = x1, cy1 = y1;
    if (!clip_segment(lo_x, lo_y, hi_x, hi_y, cx0, cy0, cx1, cy1)) return;
    ax = std::llround(cx0);
    ay = std::llround(cy0);
    bx = std::llround(cx1);
    by = std::llround(cy1);
  }
  const int64_t dx = std::llabs(bx - ax), dy = -std::llabs(by - ay);
  const int64_t step_x = ax < bx ? 1 : -1, step_y = ay < by ? 1 : -1;
  int64_t error = dx + dy;
  while (true) {
    fill_clipped(ax - before, ay - before, ax + after + 1, ay + after + 1, color);
    if (ax == bx && ay == by) break;
    const int64_t twice = 2 * error;
    if (twice >= dy) {
      error += dy;
      ax += step_x;
    }
    if (twice <= dx) {
      error += dx;
      ay += step_y;
    }
  }
}

int Canvas::draw_text(int x, int y, const std::string& text, Rgb color, int scale) {
  const int width = text_width(text, scale);  // checks the scale
  for (size_t i = 0; i < text.size(); ++i) {
    const int64_t left = x + static_cast<int64_t>(i) * kGlyphAdvance * scale;
    if (left >= width_) break;
    if (left + kGlyphWidth * scale <= 0) continue;
    for (int gy = 0; gy < kGlyphHeight; ++gy) {
      for (int gx = 0; gx < kGlyphWidth; ++gx) {
        if (!glyph_pixel(text[i], gx, gy)) continue;
        const int64_t px = left + int64_t{gx} * scale, py = y + int64_t{gy} * scale;
        fill_clipped(px, py, px + scale, py + scale, color);
      }
    }
  }
  return width;
}

void Canvas::blit(const Canvas& source, int x, int y) {
  if (&source == this) {  // the rows would overlap while being copied
    const Canvas copy = source;
    blit(copy, x, y);
    return;
  }
  const int left = static_cast<int>(std::max<int64_t>(x, 0));
  const int right = static_cast<int>(std::min<int64_t>(int64_t{x} + source.width_, width_));
  const int top = static_cast<int>(std::max<int64_t>(y, 0));
  const int bottom = static_cast<int>(std::min<int64_t>(int64_t{y} + source.height_, height_));
  if (left >= right) return;
  for (int row = top; row < bottom; ++row) {
    const auto from = source.pixels_.begin() + source.offset(left - x, row - y);
    std::copy(from, from + (right - left) * 3, pixels_.begin() + offset(left, row));
  }
}

}  // namespace sav::image
