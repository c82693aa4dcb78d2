// The pictures sav_viz writes: an image with its heat map laid over it, captioned tiles, a grid
// of tiles (the seed's 4 x 6 figure), and a comparison sheet (a row per image, a column per
// method).
#pragma once

#include <string>
#include <vector>

#include "sav/image/canvas.h"
#include "sav/image/colormap.h"
#include "sav/image/resample.h"

namespace sav::viz {

struct HeatStyle {
  image::Colormap colormap = image::Colormap::kCoolwarm;  // the seed's
  double alpha = 0.4;                                     // the seed's
  image::Upsample upsample = image::Upsample::kBicubic;   // the seed's
  int scale = 8;                                          // a 32 x 32 image is shown 256 x 256
  int grid_rows = 8, grid_cols = 8;  // the patch grid a map's scores lie on, row by row
};

// An image as a 32 x 32 canvas from CIFAR-10's planar R, G, B bytes.
image::Canvas image_from_planar(const uint8_t* pixels);

// The patch scores (style.grid_rows x style.grid_cols), min-max normalised and upsampled to the
// shown size, over the image scaled up by style.scale.
image::Canvas heat_overlay(const image::Canvas& image, const std::vector<float>& scores,
                           const HeatStyle& style);

// [image | overlay] with caption lines underneath.
image::Canvas captioned_tile(const image::Canvas& image, const std::vector<float>& scores,
                             const std::vector<std::string>& caption, const HeatStyle& style);

// Tiles (of one size) in rows of `columns`, under a title.
image::Canvas grid(const std::vector<image::Canvas>& tiles, int columns, const std::string& title);

// One row per image: the image, then its overlay for each method; column headers on top and
// caption lines under each row's image. scores[image][method] holds a score per patch. The
// images may differ in size: the cells are as large as the largest.
image::Canvas comparison_sheet(const std::vector<image::Canvas>& images,
                               const std::vector<std::vector<std::vector<float>>>& scores,
                               const std::vector<std::string>& methods,
                               const std::vector<std::vector<std::string>>& captions,
                               const HeatStyle& style);

}  // namespace sav::viz
