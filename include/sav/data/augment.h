// TrivialAugment (Müller & Hutter 2021, as torchvision's TrivialAugmentWide) and RandAugment
// (Cubuk et al. 2020, as torchvision's RandAugment) on the bytes of a CIFAR-10 image: channel
// planes R, G, B, each 32 x 32 row-major (cifar10.h).
//
// Each operation does what torchvision does to a PIL image, with Pillow's arithmetic, so that
// a recipe tuned with torchvision means the same here (tests/test_augment.cpp compares every
// operation with torchvision and Pillow, byte for byte): geometry by nearest neighbour with 0
// outside the image; Brightness, Color, Contrast and Sharpness blend with a degenerate image
// (black; the greyscale image; its mean grey; its 3 x 3 smoothing) by the factor 1 + magnitude.
#pragma once

#include <cstdint>

namespace sav::data {

// torchvision's list, in its order: a policy draws an index into it. Pixel (x, y) is column x,
// row y; "samples" means the output pixel takes the input pixel nearest that point (0 outside).
enum class AugmentOp : int {
  kIdentity,
  kShearX,        // samples (x + magnitude y, y): a shear about the corner (0, 0)
  kShearY,        // samples (x, y + magnitude x)
  kTranslateX,    // samples (x - int(magnitude), y): moves the picture right when positive
  kTranslateY,    // samples (x, y - int(magnitude)): down when positive
  kRotate,        // by magnitude degrees anticlockwise, about the image's centre (16, 16)
  kBrightness,    // blend with black
  kColor,         // with the greyscale image (Pillow's L: (19595 R + 38470 G + 7471 B) / 2^16)
  kContrast,      // with the mean of the greyscale image, rounded
  kSharpness,     // with the image smoothed by [1 1 1; 1 5 1; 1 1 1] / 13, the border kept
  kPosterize,     // keeps the top int(magnitude) bits of each byte
  kSolarize,      // inverts (255 - v) the bytes v >= magnitude
  kAutoContrast,  // stretches each channel's min..max to 0..255
  kEqualize,      // equalises each channel's histogram (Pillow's ImageOps.equalize)
};
constexpr int kAugmentOps = 14;
constexpr int kMagnitudeBins = 31;  // torchvision's num_magnitude_bins
constexpr int kMaxAugmentOps = 16;  // the most operations a RandAugment policy may chain

// "Identity", "ShearX", ...: torchvision's names.
const char* augment_op_name(AugmentOp op);

// Applies `op` with `magnitude` (signed, in the operation's own unit above) to `pixels`
// (kPixelBytes, channel planes), in place.
void apply_augment_op(AugmentOp op, float magnitude, uint8_t* pixels);

enum class AugmentKind { kNone, kTrivialAugment, kRandAugment };

struct AugmentPolicy {
  AugmentKind kind = AugmentKind::kNone;
  int num_ops = 2;    // RandAugment: operations applied in turn, 1..kMaxAugmentOps
  int magnitude = 9;  // RandAugment: the magnitude bin of every operation, 0..30
};

// Throws sav::Error naming the bad field and its bounds (RandAugment's; TrivialAugment has
// none).
void check_augment_policy(const AugmentPolicy& policy);

// The magnitude of bin `bin` (0..30) of `op` in the policy's table: torchvision's
// torch.linspace ranges (TrivialAugmentWide: shear 0.99, translate 32 px, rotate 135 degrees,
// enhancements 0.99, posterize 8..2 bits; RandAugment on 32 x 32: 0.3, 150/331 * 32 px, 30
// degrees, 0.9, 8..4 bits; both: solarize 255..0), each value the float nearest the exact
// one; 0 for Identity, AutoContrast and Equalize.
float augment_magnitude(AugmentKind kind, AugmentOp op, int bin);
// Whether a policy negates the operation's magnitude with probability 1/2: the geometric
// operations and the four enhancements.
bool augment_op_is_signed(AugmentOp op);

struct AugmentDraw {
  AugmentOp op = AugmentOp::kIdentity;
  float magnitude = 0.0f;  // signed
};

// The operations `policy` applies to the image of record `record`: a pure function of
// (seed, stream, record), from Philox blocks record * kMaxAugmentOps + k of `stream`, one for
// the k-th operation (lane 0: the operation, uniform over the 14; lane 1: TrivialAugment's bin,
// uniform over the 31; lane 2: the sign). Writes them to `draws` (room for kMaxAugmentOps) and
// returns their number: 0 for kNone, 1 for TrivialAugment, num_ops for RandAugment. Throws
// as check_augment_policy does.
int draw_augment_ops(const AugmentPolicy& policy, uint64_t seed, uint64_t stream, int64_t record,
                     AugmentDraw* draws);

// Draws the record's operations and applies them to `pixels` in turn, in place.
void augment_image(const AugmentPolicy& policy, uint64_t seed, uint64_t stream, int64_t record,
                   uint8_t* pixels);

}  // namespace sav::data
