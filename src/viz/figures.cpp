#include "sav/viz/figures.h"

#include <algorithm>

#include "sav/attribution/methods.h"
#include "sav/error.h"
#include "sav/image/font.h"

namespace sav::viz {
namespace {

constexpr image::Rgb kInk{20, 20, 20}, kPaper{255, 255, 255};
constexpr int kGap = 8;

// Captions grow with the tiles so that they stay readable beside them: font pixels of 2 x 2 under
// a CIFAR image shown 256 pixels wide, 1 x 1 under a 224-pixel photo.
int caption_scale(int shown_width) { return std::max(1, shown_width / 128); }
int caption_line(int shown_width) { return (image::kGlyphHeight + 5) * caption_scale(shown_width); }

}  // namespace

image::Canvas image_from_planar(const uint8_t* pixels) {
  image::Canvas canvas(32, 32);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      canvas.set(x, y, {pixels[y * 32 + x], pixels[1024 + y * 32 + x], pixels[2048 + y * 32 + x]});
    }
  }
  return canvas;
}

image::Canvas heat_overlay(const image::Canvas& image, const std::vector<float>& scores,
                           const HeatStyle& style) {
  const size_t expected = static_cast<size_t>(style.grid_rows) * style.grid_cols;
  if (scores.size() != expected) {
    fail("heat map: ", scores.size(), " scores given, ", expected, " expected (", style.grid_rows,
         " x ", style.grid_cols, ")");
  }
  const image::Canvas shown = image::scale_nearest(image, style.scale);
  const std::vector<float> heat =
      image::resize_map(attribution::min_max_normalize(scores), style.grid_cols, style.grid_rows,
                        shown.width(), shown.height(), style.upsample);
  return image::overlay(shown, heat, style.colormap, style.alpha);
}

image::Canvas captioned_tile(const image::Canvas& image, const std::vector<float>& scores,
                             const std::vector<std::string>& caption, const HeatStyle& style) {
  const image::Canvas shown = image::scale_nearest(image, style.scale);
  const image::Canvas heat = heat_overlay(image, scores, style);
  const int line = caption_line(shown.width());
  image::Canvas tile(2 * shown.width() + kGap,
                     shown.height() + 4 + static_cast<int>(caption.size()) * line, kPaper);
  tile.blit(shown, 0, 0);
  tile.blit(heat, shown.width() + kGap, 0);
  for (size_t i = 0; i < caption.size(); ++i) {
    tile.draw_text(0, shown.height() + 4 + static_cast<int>(i) * line, caption[i], kInk,
                   caption_scale(shown.width()));
  }
  return tile;
}

image::Canvas grid(const std::vector<image::Canvas>& tiles, int columns, const std::string& title) {
  if (tiles.empty()) fail("grid: no tiles");
  const int tile_w = tiles[0].width(), tile_h = tiles[0].height();
  const int cols = std::min<int>(columns, static_cast<int>(tiles.size()));
  const int rows = (static_cast<int>(tiles.size()) + cols - 1) / cols;
  const int top = 2 * kGap + 2 * image::kGlyphHeight;
  image::Canvas sheet(kGap + cols * (tile_w + 2 * kGap), top + rows * (tile_h + 2 * kGap), kPaper);
  sheet.draw_text(kGap, kGap, title, kInk, 2);
  for (size_t i = 0; i < tiles.size(); ++i) {
    const int r = static_cast<int>(i) / cols, c = static_cast<int>(i) % cols;
    sheet.blit(tiles[i], kGap + c * (tile_w + 2 * kGap), top + r * (tile_h + 2 * kGap));
  }
  return sheet;
}

image::Canvas comparison_sheet(const std::vector<image::Canvas>& images,
                               const std::vector<std::vector<std::vector<float>>>& scores,
                               const std::vector<std::string>& methods,
                               const std::vector<std::vector<std::string>>& captions,
                               const HeatStyle& style) {
  if (images.empty()) fail("comparison sheet: no images");
  int width = 0, height = 0;
  size_t lines = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    width = std::max(width, images[i].width() * style.scale);
    height = std::max(height, images[i].height() * style.scale);
    lines = std::max(lines, captions.at(i).size());
  }
  const int cell = width + kGap, line = caption_line(width), text_scale = caption_scale(width);
  const int columns = 1 + static_cast<int>(methods.size());
  const int top = kGap + 2 * image::kGlyphHeight + kGap;
  const int row_h = height + static_cast<int>(lines) * line + kGap;
  image::Canvas sheet(kGap + columns * cell, top + static_cast<int>(images.size()) * row_h, kPaper);
  // Column headers at double size where they fit over their column.
  auto header = [&](int column, const std::string& text) {
    const int scale = image::text_width(text, 2) <= width ? 2 : 1;
    sheet.draw_text(kGap + column * cell, kGap, text, kInk, scale);
  };
  header(0, "image");
  for (size_t m = 0; m < methods.size(); ++m) header(static_cast<int>(m + 1), methods[m]);
  for (size_t i = 0; i < images.size(); ++i) {
    const int y = top + static_cast<int>(i) * row_h;
    sheet.blit(image::scale_nearest(images[i], style.scale), kGap, y);
    for (size_t l = 0; l < captions[i].size(); ++l) {
      sheet.draw_text(kGap, y + height + 3 + static_cast<int>(l) * line, captions[i][l], kInk,
                      text_scale);
    }
    for (size_t m = 0; m < methods.size(); ++m) {
      sheet.blit(heat_overlay(images[i], scores.at(i).at(m), style),
                 kGap + static_cast<int>(m + 1) * cell, y);
    }
  }
  return sheet;
}

}  // namespace sav::viz
