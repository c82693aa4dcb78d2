// An RGB image in memory to draw on: rectangles, lines and text in the built-in font
// (sav/image/font.h). Coordinates are pixels, x to the right and y down from the top-left
// corner. Drawing is clipped: whatever falls outside the canvas is silently left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sav::image {

struct Rgb {
  uint8_t r, g, b;
};

inline bool operator==(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
inline bool operator!=(Rgb a, Rgb b) { return !(a == b); }

class Canvas {
 public:
  // Throws sav::Error for a width or height below 1, or above kMaxPixels pixels in all.
  Canvas(int width, int height, Rgb background = {255, 255, 255});

  static constexpr int64_t kMaxPixels = int64_t{1} << 28;

  int width() const { return width_; }
  int height() const { return height_; }

  // Throws sav::Error when (x, y) is outside the canvas.
  Rgb at(int x, int y) const;
  // Does nothing when (x, y) is outside the canvas: the drawing code relies on it.
  void set(int x, int y, Rgb color);

  // The w x h rectangle with top-left corner (x, y); nothing for w or h below 1.
  void fill_rect(int x, int y, int w, int h, Rgb color);
  // The outline of that rectangle, `thickness` pixels wide on its inside.
  void draw_rect(int x, int y, int w, int h, Rgb color, int thickness = 1);

  // A straight line from (x0, y0) to (x1, y1), both ends included: one pixel a step along the
  // longer axis (Bresenham), widened to a thickness x thickness square at each step.
  void draw_line(int x0, int y0, int x1, int y1, Rgb color, int thickness = 1);

  // Draws `text` on one line with the built-in font, its top-left corner at (x, y), each font
  // pixel a scale x scale square; only the ink is drawn. Returns the width drawn,
  // text_width(text, scale). Throws for scale < 1.
  int draw_text(int x, int y, const std::string& text, Rgb color, int scale = 1);

  // Copies `source` in with its top-left corner at (x, y).
  void blit(const Canvas& source, int x, int y);

  // width * height * 3 bytes: rows top to bottom, pixels left to right, then R, G, B.
  const std::vector<uint8_t>& pixels() const { return pixels_; }

 private:
  bool inside(int64_t x, int64_t y) const { return x >= 0 && y >= 0 && x < width_ && y < height_; }
  size_t offset(int x, int y) const { return (static_cast<size_t>(y) * width_ + x) * 3; }
  // Fills [x0, x1) x [y0, y1) clipped; 64-bit so that far-off coordinates cannot overflow.
  void fill_clipped(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb color);

  int width_, height_;
  std::vector<uint8_t> pixels_;
};

}  // namespace sav::image
