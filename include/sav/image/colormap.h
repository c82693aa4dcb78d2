// Colour maps for heat maps, after matplotlib's of the same names, and the blend of a colour-mapped
// heat map over an image.
//
// Each map is a short table of anchor colours taken from matplotlib's published data (12 to 17
// anchors a map; gray needs two), interpolated linearly between anchors and rounded to 8 bits.
// The end points are matplotlib's exactly; at t = i / 255 a colour is within 2 units (of 255) of
// entry i of matplotlib's 256-colour table for the map (jet's within 1).
#pragma once

#include <string>
#include <vector>

#include "sav/image/canvas.h"

namespace sav::image {

enum class Colormap {
  kCoolwarm,  // Moreland's diverging map: blue (59, 76, 192), light grey at 0.5, red (180, 4, 38)
  kJet,       // the rainbow: dark blue (0, 0, 128), cyan, yellow, dark red (128, 0, 0)
  kViridis,   // perceptually uniform, dark purple (68, 1, 84) to yellow (253, 231, 37)
  kInferno,   // perceptually uniform, black (0, 0, 4) to pale yellow (252, 255, 164)
  kGray,      // black to white
};

// "coolwarm", "jet", "viridis", "inferno" or "gray"; sav::UsageError listing the names otherwise
// (the name usually comes from a flag).
Colormap parse_colormap(const std::string& name);
std::string colormap_name(Colormap colormap);
// "coolwarm, jet, viridis, inferno, gray": for help texts and error messages.
std::string colormap_choices();

// The colour at `t` in [0, 1]: 0 is the low end, 1 the high end. `t` outside [0, 1] is clamped,
// and a NaN `t` takes the colour of 0.
Rgb map_color(Colormap colormap, double t);

// Blends a colour-mapped heat map over `image`, pixel by pixel:
//   out = (1 - alpha) * image + alpha * map_color(colormap, heat), rounded to 8 bits.
// `heat` is row-major, image.width() * image.height() values, meant to lie in [0, 1] (values
// outside are clamped by map_color). alpha 0 returns the image, alpha 1 the coloured map.
// Throws sav::Error when the sizes differ or alpha is not in [0, 1].
Canvas overlay(const Canvas& image, const std::vector<float>& heat, Colormap colormap,
               double alpha);

}  // namespace sav::image
