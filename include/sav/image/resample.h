// Resizing: a single-channel map of patch scores (8 x 8) up to the image's size, an RGB image to
// another size, and a canvas scaled up by a whole factor for display.
//
// Positions follow the pixel-centre convention of PIL, OpenCV and PyTorch (align_corners=False):
// destination pixel x sits at source coordinate (x + 0.5) * src / dst - 0.5, so an 8 x 8 map
// enlarged to 32 x 32 keeps each patch's score centred on that patch's 4 x 4 pixels.
#pragma once

#include <string>
#include <vector>

#include "sav/image/canvas.h"

namespace sav::image {

enum class Upsample {
  kNearest,   // blocks: each destination pixel takes the source pixel whose area holds its centre
  kBilinear,  // linear in x and y between the four nearest source pixels
  kBicubic,   // Keys' cubic convolution, a = -0.5, over the 4 x 4 nearest source pixels
};

// "nearest", "bilinear" or "bicubic"; sav::UsageError listing the names otherwise.
Upsample parse_upsample(const std::string& name);
std::string upsample_name(Upsample method);
// "nearest, bilinear, bicubic": for help texts and error messages.
std::string upsample_choices();

// Resizes a single-channel map, row-major src_w x src_h, to dst_w x dst_h (row-major).
// - nearest: source pixel floor((x + 0.5) * src / dst), so a 2 x 2 map at 32 x 32 is four exact
//   16 x 16 blocks.
// - bilinear: as OpenCV's INTER_LINEAR and PyTorch's bilinear (align_corners=False): the
//   coordinate is clamped to [0, src - 1], so a border band of half a source pixel is flat.
// - bicubic: Keys' kernel with a = -0.5 (as PIL; OpenCV and PyTorch use a = -0.75, which rings a
//   little more), the four taps clamped to the border (edge pixels repeat). It passes through the
//   source values where a destination centre falls on a source centre (at an odd whole scale
//   every source pixel has one), reproduces linear ramps away from the borders, and may overshoot
//   the source's range near sharp steps (map_color clamps, so heat maps need no care).
// Every method keeps a constant map exactly constant. Meant for enlarging: shrinking with them
// samples without averaging (like OpenCV's, not PIL's). Sums run in double, rounded to float once.
// A non-finite value spreads to the pixels it weighs in. Throws sav::Error for a size below 1, a
// map whose length is not src_w * src_h, or a size over Canvas::kMaxPixels.
std::vector<float> resize_map(const std::vector<float>& map, int src_w, int src_h, int dst_w,
                              int dst_h, Upsample method);

// Resizes an RGB image (a user's photo to the model's 32 x 32, say), each axis on its own: where
// an axis shrinks, each destination pixel is the area-weighted mean of the source pixels it
// covers (64 -> 32 averages 2 x 2 blocks; 100 -> 32 weighs partly covered pixels by their part);
// where it grows or stays, bilinear as resize_map. Channels are rounded to the nearest byte
// (halves up). Throws sav::Error for a size below 1 or over Canvas::kMaxPixels.
Canvas resize_image(const Canvas& image, int width, int height);

// Each pixel becomes a factor x factor block (to show 32 x 32 tiles large). Throws sav::Error for
// a factor below 1 or a result over Canvas::kMaxPixels.
Canvas scale_nearest(const Canvas& image, int factor);

}  // namespace sav::image
