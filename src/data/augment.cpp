#include "sav/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sav/data/cifar10.h"
#include "sav/error.h"
#include "sav/random.h"

// Pillow's arithmetic, reproduced to the bit: torchvision hands a PIL image to Pillow's C code,
// which computes blends and filters in single precision and truncates, and resamples by 16.16
// fixed point. Where a product is rounded before a sum, it is computed here as a double (exact
// for a byte times a float) and rounded to float explicitly, so that no compiler fuses the two
// into one multiply-add, which would round once and differ in the last bit now and then.
namespace sav::data {
namespace {

constexpr int kSide = kImageSide;
constexpr int kPlane = kSide * kSide;
constexpr double kPi = 3.14159265358979323846;

// Python's math.degrees and math.radians, operation for operation.
double degrees(double radians) { return radians * (180.0 / kPi); }
double radians(double degrees) { return degrees * (kPi / 180.0); }

// Python's round(value, 15): to 15 decimals, correctly rounded (as Pillow's rotate rounds its
// matrix, which turns cos 90 degrees into exactly 0).
double round_15_decimals(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.15f", value);
  return std::strtod(text, nullptr);
}

// Image.transform(AFFINE, a, NEAREST) with 0 outside: output pixel (x, y) takes the input pixel
// under (a0 X + a1 Y + a2, a3 X + a4 Y + a5), X = x + 0.5, Y = y + 0.5, as Pillow's Geometry.c
// computes it: in doubles for a matrix without rotation or shear, else in 16.16 fixed point.
void affine_nearest(const double a[6], const uint8_t* in, uint8_t* out) {
  std::memset(out, 0, kPixelBytes);
  if (a[1] == 0 && a[3] == 0) {
    int source_x[kSide];
    double xo = a[2] + a[0] * 0.5;
    for (int x = 0; x < kSide; ++x, xo += a[0]) {
      source_x[x] = xo >= 0 && xo < kSide ? static_cast<int>(xo) : -1;
    }
    double yo = a[5] + a[4] * 0.5;
    for (int y = 0; y < kSide; ++y, yo += a[4]) {
      if (!(yo >= 0 && yo < kSide)) continue;
      const int sy = static_cast<int>(yo);
      for (int x = 0; x < kSide; ++x) {
        if (source_x[x] < 0) continue;
        for (int c = 0; c < kChannels; ++c) {
          out[c * kPlane + y * kSide + x] = in[c * kPlane + sy * kSide + source_x[x]];
        }
      }
    }
    return;
  }
  const auto fixed = [](double v) { return static_cast<int>(std::floor(v * 65536.0 + 0.5)); };
  const int a0 = fixed(a[0]), a1 = fixed(a[1]), a3 = fixed(a[3]), a4 = fixed(a[4]);
  int row_x = fixed(a[2] + a[0] * 0.5 + a[1] * 0.5);  // pixel (0, 0)'s centre
  int row_y = fixed(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (int y = 0; y < kSide; ++y, row_x += a1, row_y += a4) {
    int xx = row_x, yy = row_y;
    for (int x = 0; x < kSide; ++x, xx += a0, yy += a3) {
      if (xx < 0 || yy < 0) continue;  // floor(xx / 2^16) < 0
      const int sx = xx >> 16, sy = yy >> 16;
      if (sx >= kSide || sy >= kSide) continue;
      for (int c = 0; c < kChannels; ++c) {
        out[c * kPlane + y * kSide + x] = in[c * kPlane + sy * kSide + sx];
      }
    }
  }
}

// torchvision's affine for a PIL image, shear atan(magnitude) (passed in degrees) about the
// corner (0, 0): output (x, y) samples the input at (x + m y, y), or (x, y + m x), where m is
// the magnitude again through atan, degrees, radians and tan (or sin / cos), as torchvision
// computes its inverse matrix.
void shear(bool along_x, float magnitude, const uint8_t* in, uint8_t* out) {
  const double angle = radians(degrees(std::atan(static_cast<double>(magnitude))));
  double a[6] = {1.0, 0.0, 0.0, 0.0, 1.0, 0.0};
  if (along_x) {
    a[1] = std::tan(angle);
  } else {
    a[3] = -(std::sin(-angle) / std::cos(angle));
    a[4] = std::cos(-angle) / std::cos(angle);
  }
  affine_nearest(a, in, out);
}

void translate(bool along_x, float magnitude, const uint8_t* in, uint8_t* out) {
  // Python's int(): towards 0. Beyond the image's side every shift empties it.
  const int shift = static_cast<int>(std::clamp(magnitude, -2.0f * kSide, 2.0f * kSide));
  const double a[6] = {1.0, 0.0, along_x ? -shift : 0.0, 0.0, 1.0, along_x ? 0.0 : -shift};
  affine_nearest(a, in, out);
}

// PIL's Image.rotate (no expand) about the centre (16, 16), its matrix rounded to 15 decimals.
// Its special cases (0, 90, 180 and 270 degrees: a copy or a transpose) give what the matrix
// gives on a square image, since the rounding makes their sines and cosines exact.
void rotate(float degrees_anticlockwise, const uint8_t* in, uint8_t* out) {
  double angle = std::fmod(static_cast<double>(degrees_anticlockwise), 360.0);
  if (angle < 0) angle += 360.0;  // Python's %: the sign of the divisor
  angle = -radians(angle);
  const double cosine = round_15_decimals(std::cos(angle));
  const double sine = round_15_decimals(std::sin(angle));
  const double minus_sine = round_15_decimals(-std::sin(angle));
  const double c = kSide / 2.0;
  const double a[6] = {cosine,     sine,   cosine * -c + sine * -c + c,
                       minus_sine, cosine, minus_sine * -c + cosine * -c + c};
  affine_nearest(a, in, out);
}

// Pillow's ImagingBlend(degenerate, image, alpha): degenerate + alpha (image - degenerate) in
// single precision, clipped to 0..255 and truncated.
uint8_t blend(int degenerate, int image, float alpha) {
  const float product = static_cast<float>(static_cast<double>(alpha) * (image - degenerate));
  const float value = static_cast<float>(degenerate) + product;
  if (value <= 0.0f) return 0;
  if (value >= 255.0f) return 255;
  return static_cast<uint8_t>(value);
}

// ImageEnhance's factor is 1 + magnitude in double, which Pillow's blend takes as a float: the
// float sum, since 1 + a float is exact in double.
float enhance_factor(float magnitude) { return 1.0f + magnitude; }

// Pillow's RGB -> L: ITU-R 601-2 luma in 16-bit fixed point, rounded.
int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

void apply_table(const uint8_t table[256], uint8_t* values, int count) {
  for (int i = 0; i < count; ++i) values[i] = table[values[i]];
}

void blend_with_constant(int degenerate, float alpha, uint8_t* pixels) {
  uint8_t table[256];
  for (int v = 0; v < 256; ++v) table[v] = blend(degenerate, v, alpha);
  apply_table(table, pixels, kPixelBytes);
}

void color(float alpha, uint8_t* pixels) {
  uint8_t* r = pixels;
  uint8_t* g = pixels + kPlane;
  uint8_t* b = pixels + 2 * kPlane;
  for (int i = 0; i < kPlane; ++i) {
    const int grey = luma(r[i], g[i], b[i]);
    r[i] = blend(grey, r[i], alpha);
    g[i] = blend(grey, g[i], alpha);
    b[i] = blend(grey, b[i], alpha);
  }
}

// ImageEnhance.Contrast: the degenerate is the mean of the greyscale image, int(mean + 0.5).
void contrast(float alpha, uint8_t* pixels) {
  int64_t sum = 0;
  for (int i = 0; i < kPlane; ++i) {
    sum += luma(pixels[i], pixels[kPlane + i], pixels[2 * kPlane + i]);
  }
  const int mean = static_cast<int>(static_cast<double>(sum) / kPlane + 0.5);
  blend_with_constant(mean, alpha, pixels);
}

// ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH, Pillow's 3 x 3 filter in single
// precision (weights 1/13 and 5/13, the rows summed bottom, middle, top, 0.5 added to round,
// truncated); its border is the image's own, so the blend leaves the border as it was.
void sharpness(float alpha, uint8_t* pixels) {
  const float edge = 1.0f / 13.0f, middle = 5.0f / 13.0f;
  const auto term = [](int value, float weight) {
    return static_cast<float>(value * static_cast<double>(weight));
  };
  uint8_t smooth[kPlane];
  for (int c = 0; c < kChannels; ++c) {
    uint8_t* plane = pixels + c * kPlane;
    std::memcpy(smooth, plane, kPlane);
    for (int y = 1; y < kSide - 1; ++y) {
      for (int x = 1; x < kSide - 1; ++x) {
        float sum = 0.5f;
        for (int dy : {1, 0, -1}) {
          const uint8_t* row = plane + (y + dy) * kSide + x;
          const float centre_weight = dy == 0 ? middle : edge;
          sum += term(row[-1], edge) + term(row[0], centre_weight) + term(row[1], edge);
        }
        smooth[y * kSide + x] = sum <= 0.0f ? 0 : sum >= 255.0f ? 255 : static_cast<uint8_t>(sum);
      }
    }
    for (int i = 0; i < kPlane; ++i) plane[i] = blend(smooth[i], plane[i], alpha);
  }
}

// ImageOps.autocontrast (no cutoff): each channel's lowest value to 0, highest to 255, by
// int(v * scale + offset) in doubles; a channel of one value is left alone.
void autocontrast(uint8_t* pixels) {
  for (int c = 0; c < kChannels; ++c) {
    uint8_t* plane = pixels + c * kPlane;
    int low = 255, high = 0;
    for (int i = 0; i < kPlane; ++i) {
      low = std::min<int>(low, plane[i]);
      high = std::max<int>(high, plane[i]);
    }
    if (high <= low) continue;
    const double scale = 255.0 / (high - low), offset = -low * scale;
    uint8_t table[256];
    for (int v = 0; v < 256; ++v) {
      volatile double scaled = v * scale;  // rounded before the sum, as Python does
      const int mapped = static_cast<int>(scaled + offset);
      table[v] = static_cast<uint8_t>(std::min(255, std::max(0, mapped)));
    }
    apply_table(table, plane, kPlane);
  }
}

// ImageOps.equalize: each channel through its cumulative histogram, in Pillow's integers: step
// = (pixels - the count of the highest value present) / 255, value v -> (step / 2 + the count
// below v) / step, at most 255; a channel of one value, or with step 0, is left alone.
void equalize(uint8_t* pixels) {
  for (int c = 0; c < kChannels; ++c) {
    uint8_t* plane = pixels + c * kPlane;
    int histogram[256] = {};
    for (int i = 0; i < kPlane; ++i) ++histogram[plane[i]];
    int levels = 0, highest = 0;
    for (int v = 0; v < 256; ++v) {
      if (histogram[v] == 0) continue;
      ++levels;
      highest = v;
    }
    const int step = (kPlane - histogram[highest]) / 255;
    if (levels <= 1 || step == 0) continue;
    uint8_t table[256];
    for (int v = 0, n = step / 2; v < 256; n += histogram[v], ++v) {
      table[v] = static_cast<uint8_t>(std::min(255, n / step));  // Pillow clips its table
    }
    apply_table(table, plane, kPlane);
  }
}

}  // namespace

const char* augment_op_name(AugmentOp op) {
  static const char* const names[kAugmentOps] = {
      "Identity", "ShearX",   "ShearY",    "TranslateX", "TranslateY", "Rotate",       "Brightness",
      "Color",    "Contrast", "Sharpness", "Posterize",  "Solarize",   "AutoContrast", "Equalize"};
  const int index = static_cast<int>(op);
  return index >= 0 && index < kAugmentOps ? names[index] : "unknown";
}

void apply_augment_op(AugmentOp op, float magnitude, uint8_t* pixels) {
  uint8_t source[kPixelBytes];
  switch (op) {
    case AugmentOp::kIdentity: return;
    case AugmentOp::kShearX:
    case AugmentOp::kShearY:
      std::memcpy(source, pixels, kPixelBytes);
      shear(op == AugmentOp::kShearX, magnitude, source, pixels);
      return;
    case AugmentOp::kTranslateX:
    case AugmentOp::kTranslateY:
      std::memcpy(source, pixels, kPixelBytes);
      translate(op == AugmentOp::kTranslateX, magnitude, source, pixels);
      return;
    case AugmentOp::kRotate:
      std::memcpy(source, pixels, kPixelBytes);
      rotate(magnitude, source, pixels);
      return;
    case AugmentOp::kBrightness: blend_with_constant(0, enhance_factor(magnitude), pixels); return;
    case AugmentOp::kColor: color(enhance_factor(magnitude), pixels); return;
    case AugmentOp::kContrast: contrast(enhance_factor(magnitude), pixels); return;
    case AugmentOp::kSharpness: sharpness(enhance_factor(magnitude), pixels); return;
    case AugmentOp::kPosterize: {
      const int bits = static_cast<int>(std::clamp(magnitude, 0.0f, 8.0f));
      const uint8_t keep = static_cast<uint8_t>(0xff00 >> bits);
      for (int i = 0; i < kPixelBytes; ++i) pixels[i] &= keep;
      return;
    }
    case AugmentOp::kSolarize: {
      uint8_t table[256];
      for (int v = 0; v < 256; ++v) table[v] = static_cast<uint8_t>(v >= magnitude ? 255 - v : v);
      apply_table(table, pixels, kPixelBytes);
      return;
    }
    case AugmentOp::kAutoContrast: autocontrast(pixels); return;
    case AugmentOp::kEqualize: equalize(pixels); return;
  }
  fail("augment: unknown operation ", static_cast<int>(op));
}

void check_augment_policy(const AugmentPolicy& policy) {
  if (policy.kind != AugmentKind::kRandAugment) return;
  if (policy.num_ops < 1 || policy.num_ops > kMaxAugmentOps) {
    fail("RandAugment's number of operations must be in [1, ", kMaxAugmentOps, "], got ",
         policy.num_ops);
  }
  if (policy.magnitude < 0 || policy.magnitude >= kMagnitudeBins) {
    fail("RandAugment's magnitude must be in [0, ", kMagnitudeBins - 1, "], got ",
         policy.magnitude);
  }
}

bool augment_op_is_signed(AugmentOp op) {
  return op >= AugmentOp::kShearX && op <= AugmentOp::kSharpness;
}

float augment_magnitude(AugmentKind kind, AugmentOp op, int bin) {
  const bool wide = kind == AugmentKind::kTrivialAugment;
  double low = 0.0, high = 0.0;
  switch (op) {
    case AugmentOp::kShearX:
    case AugmentOp::kShearY: high = wide ? 0.99 : 0.3; break;
    case AugmentOp::kTranslateX:
    case AugmentOp::kTranslateY: high = wide ? 32.0 : 150.0 / 331.0 * kSide; break;
    case AugmentOp::kRotate: high = wide ? 135.0 : 30.0; break;
    case AugmentOp::kBrightness:
    case AugmentOp::kColor:
    case AugmentOp::kContrast:
    case AugmentOp::kSharpness: high = wide ? 0.99 : 0.9; break;
    case AugmentOp::kPosterize:  // 8 - round(bin / (30 / 6)), or / (30 / 4): never a tie
      return static_cast<float>(8 - std::lround(bin / ((kMagnitudeBins - 1) / (wide ? 6.0 : 4.0))));
    case AugmentOp::kSolarize: low = 255.0; break;
    default: return 0.0f;
  }
  return static_cast<float>(low + (high - low) * bin / (kMagnitudeBins - 1));
}

int draw_augment_ops(const AugmentPolicy& policy, uint64_t seed, uint64_t stream, int64_t record,
                     AugmentDraw* draws) {
  check_augment_policy(policy);
  const bool trivial = policy.kind == AugmentKind::kTrivialAugment;
  const int count = policy.kind == AugmentKind::kNone ? 0 : trivial ? 1 : policy.num_ops;
  for (int k = 0; k < count; ++k) {
    const PhiloxBlock bits =
        random_block(seed, stream, static_cast<uint64_t>(record) * kMaxAugmentOps + k);
    const auto op = static_cast<AugmentOp>(bits[0] % kAugmentOps);
    const int bin = trivial ? static_cast<int>(bits[1] % kMagnitudeBins) : policy.magnitude;
    float magnitude = augment_magnitude(policy.kind, op, bin);
    if (augment_op_is_signed(op) && (bits[2] & 1u)) magnitude = -magnitude;
    draws[k] = {op, magnitude};
  }
  return count;
}

void augment_image(const AugmentPolicy& policy, uint64_t seed, uint64_t stream, int64_t record,
                   uint8_t* pixels) {
  AugmentDraw draws[kMaxAugmentOps];
  const int count = draw_augment_ops(policy, seed, stream, record, draws);
  for (int k = 0; k < count; ++k) apply_augment_op(draws[k].op, draws[k].magnitude, pixels);
}

}  // namespace sav::data
