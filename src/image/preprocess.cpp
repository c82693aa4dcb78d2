// Photos to model input: PIL's resampling, torchvision's centre crop, normalisation, patches.
// The resampling follows Pillow's src/libImaging/Resample.c (ImagingResample, 8 bits a
// channel) and Geometry.c (ImagingScaleAffine, for NEAREST) step by step, floating-point
// expressions included, so that the bytes come out as PIL's.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sav/error.h"
#include "sav/image/photo.h"

namespace sav::image {
namespace {

// --- PIL's separable filters ----------------------------------------------------------------

// Fixed-point coefficients: 32 bits less 8 for the pixel and 2 for the overshoot of filters
// with negative lobes (PIL's PRECISION_BITS).
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Filter {
  double (*weight)(double);
  double support;  // in source pixels at scale 1
};

double bilinear_weight(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_weight(double x) {
  constexpr double a = -0.5;  // Keys' kernel, as PIL
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One output sample along an axis: source samples start, start + 1, ... weighted in fixed point.
struct Tap {
  int start = 0;
  std::vector<int32_t> weights;
};

// PIL's precompute_coeffs and normalize_coeffs_8bpc. When shrinking, the filter widens by the
// scale (antialiasing: every source pixel under the output pixel's footprint counts).
std::vector<Tap> pil_taps(int in_size, int out_size, const Filter& filter) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter.support * filter_scale;
  const double inverse_scale = 1.0 / filter_scale;
  std::vector<Tap> taps(static_cast<size_t>(out_size));
  std::vector<double> k;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int count = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    k.assign(static_cast<size_t>(std::max(count, 0)), 0.0);
    double sum = 0.0;
    for (int x = 0; x < count; ++x) {
      k[x] = filter.weight((x + xmin - center + 0.5) * inverse_scale);
      sum += k[x];
    }
    Tap& tap = taps[xx];
    tap.start = xmin;
    for (double w : k) {
      if (sum != 0.0) w /= sum;
      const double fixed = w * (1 << kPrecisionBits);
      tap.weights.push_back(static_cast<int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed));
    }
  }
  return taps;
}

// A fixed-point sum (with its rounding bias) back to a byte: PIL's clip8.
uint8_t clip8(int64_t sum) {
  if (sum < 0) return 0;
  return static_cast<uint8_t>(std::min<int64_t>(sum >> kPrecisionBits, 255));
}

constexpr int64_t kRoundingBias = int64_t{1} << (kPrecisionBits - 1);

// An RGB buffer of any size: the passes' intermediate can exceed a photo's limits (a wide,
// short result from a tall source), and is never handed out.
struct Pixels {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Rows first_row .. first_row + rows - 1 of `in`, resampled along x.
Pixels horizontal_pass(const RgbImage& in, int first_row, int rows, const std::vector<Tap>& taps) {
  Pixels out{static_cast<int>(taps.size()), rows, {}};
  out.rgb.resize(static_cast<size_t>(out.width) * rows * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* line = &in.pixels[static_cast<size_t>(first_row + y) * in.width * 3];
    uint8_t* line_out = &out.rgb[static_cast<size_t>(y) * out.width * 3];
    for (int xx = 0; xx < out.width; ++xx) {
      const Tap& tap = taps[xx];
      int64_t sum[3] = {kRoundingBias, kRoundingBias, kRoundingBias};
      for (size_t x = 0; x < tap.weights.size(); ++x) {
        const uint8_t* pixel = line + (tap.start + x) * 3;
        for (int c = 0; c < 3; ++c) sum[c] += int64_t{pixel[c]} * tap.weights[x];
      }
      for (int c = 0; c < 3; ++c) line_out[xx * 3 + c] = clip8(sum[c]);
    }
  }
  return out;
}

// Along y; taps' starts count from the first row `in` holds.
RgbImage vertical_pass(const uint8_t* in, int width, const std::vector<Tap>& taps, int row_shift) {
  RgbImage out(width, static_cast<int>(taps.size()));
  const size_t stride = static_cast<size_t>(width) * 3;
  for (int yy = 0; yy < out.height; ++yy) {
    const Tap& tap = taps[yy];
    uint8_t* line_out = &out.pixels[yy * stride];
    for (size_t i = 0; i < stride; ++i) {
      int64_t sum = kRoundingBias;
      for (size_t y = 0; y < tap.weights.size(); ++y) {
        sum += int64_t{in[(tap.start - row_shift + y) * stride + i]} * tap.weights[y];
      }
      line_out[i] = clip8(sum);
    }
  }
  return out;
}

// PIL's ImagingResampleInner: horizontally over the rows the vertical pass reads, then
// vertically, each pass only where that side changes.
RgbImage resample_separable(const RgbImage& image, int width, int height, const Filter& filter) {
  const bool horizontal = width != image.width, vertical = height != image.height;
  const std::vector<Tap> rows = pil_taps(image.height, height, filter);
  const int first_row = vertical ? rows.front().start : 0;
  const int last_row =
      vertical ? rows.back().start + static_cast<int>(rows.back().weights.size()) : image.height;
  if (!horizontal) return vertical_pass(image.pixels.data(), image.width, rows, 0);
  Pixels across =
      horizontal_pass(image, first_row, last_row - first_row, pil_taps(image.width, width, filter));
  if (!vertical) {
    RgbImage out;
    out.width = width;
    out.height = height;
    out.pixels = std::move(across.rgb);
    return out;
  }
  return vertical_pass(across.rgb.data(), width, rows, first_row);
}

// PIL's NEAREST (ImagingScaleAffine): the source position of each output pixel is accumulated
// step by step from half a step in, and truncated.
std::vector<int> nearest_indices(int in_size, int out_size) {
  const double step = static_cast<double>(in_size) / out_size;
  std::vector<int> indices(static_cast<size_t>(out_size));
  double position = step * 0.5;
  for (int& index : indices) {
    index = std::min(static_cast<int>(position), in_size - 1);
    position += step;
  }
  return indices;
}

RgbImage resize_nearest(const RgbImage& image, int width, int height) {
  const std::vector<int> xs = nearest_indices(image.width, width);
  const std::vector<int> ys = nearest_indices(image.height, height);
  RgbImage out(width, height);
  for (int y = 0; y < height; ++y) {
    const uint8_t* line = &image.pixels[static_cast<size_t>(ys[y]) * image.width * 3];
    for (int x = 0; x < width; ++x) {
      std::copy(line + xs[x] * 3, line + xs[x] * 3 + 3,
                &out.pixels[(static_cast<size_t>(y) * width + x) * 3]);
    }
  }
  return out;
}

// --- Crop and plan --------------------------------------------------------------------------

// round(difference / 2) with halves to even, as Python's round (torchvision's crop corner).
int half_rounded_to_even(int difference) {
  const int half = difference / 2;
  return difference % 2 != 0 && half % 2 != 0 ? half + 1 : half;
}

// torchvision's center_crop corner along one side, including its padding of a crop larger than
// the image (padding (crop - size) / 2 before, the rest after): negative where it pads.
int crop_start(int size, int crop, bool floored) {
  if (crop <= size) return floored ? (size - crop) / 2 : half_rounded_to_even(size - crop);
  return -((crop - size) / 2);  // the padded image is exactly the crop
}

void check_positive(const char* field, int value) {
  if (value < 1) usage_fail("preprocess: ", field, " is ", value, "; it must be at least 1");
}

void check_spec(const Preprocess& spec) {
  if (spec.resize == Preprocess::Resize::kShorterSide)
    check_positive("shorter_side", spec.shorter_side);
  if (spec.resize == Preprocess::Resize::kExact || spec.resize == Preprocess::Resize::kKeepRatio) {
    check_positive("resize_width", spec.resize_width);
    check_positive("resize_height", spec.resize_height);
  }
  if ((spec.crop_width == 0) != (spec.crop_height == 0)) {
    usage_fail("preprocess: crop ", spec.crop_width, " x ", spec.crop_height,
               ": give both sides, or 0 x 0 for no crop");
  }
  if (spec.crop_width != 0) {
    check_positive("crop_width", spec.crop_width);
    check_positive("crop_height", spec.crop_height);
  }
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(spec.mean[c]) || !std::isfinite(spec.std[c]) || spec.std[c] == 0.0f) {
      usage_fail("preprocess: channel ", c, " has mean ", spec.mean[c], " and std ", spec.std[c],
                 "; both must be finite and the std not 0");
    }
  }
}

void check_resized(int64_t width, int64_t height, int from_width, int from_height) {
  if (width > kMaxPhotoSide || height > kMaxPhotoSide || width * height > kMaxPhotoPixels) {
    fail("preprocess: resizing a ", from_width, " x ", from_height, " photo to ", width, " x ",
         height, " is over the photo limits (", kMaxPhotoSide, " pixels a side, ", kMaxPhotoPixels,
         " in all)");
  }
}

// torchvision's _compute_resized_output_size for Resize(int): the longer side is
// int(shorter * long / short), computed in double and truncated, as Python does.
void shorter_side_size(int width, int height, int shorter, int64_t& out_width,
                       int64_t& out_height) {
  const int short_side = std::min(width, height), long_side = std::max(width, height);
  const auto long_out =
      static_cast<int64_t>(static_cast<double>(int64_t{shorter} * long_side) / short_side);
  out_width = width <= height ? shorter : long_out;
  out_height = width <= height ? long_out : shorter;
}

// timm's ResizeKeepRatio.get_params (longest 0): the scale of the side that needs the smaller
// one, both sides round(size / ratio) with Python's round (halves to even).
void keep_ratio_size(int width, int height, int target_width, int target_height, int64_t& out_width,
                     int64_t& out_height) {
  const double ratio = std::min(static_cast<double>(height) / target_height,
                                static_cast<double>(width) / target_width);
  out_width = static_cast<int64_t>(std::nearbyint(width / ratio));
  out_height = static_cast<int64_t>(std::nearbyint(height / ratio));
}

}  // namespace

// --- The public functions -------------------------------------------------------------------

Interpolation parse_interpolation(const std::string& name) {
  if (name == "nearest") return Interpolation::kNearest;
  if (name == "bilinear") return Interpolation::kBilinear;
  if (name == "bicubic") return Interpolation::kBicubic;
  usage_fail("unknown interpolation '", name, "'; choose nearest, bilinear or bicubic");
}

std::string interpolation_name(Interpolation interpolation) {
  switch (interpolation) {
    case Interpolation::kNearest: return "nearest";
    case Interpolation::kBilinear: return "bilinear";
    case Interpolation::kBicubic: return "bicubic";
  }
  fail("interpolation_name: unknown value ", static_cast<int>(interpolation));
}

RgbImage resize_like_pil(const RgbImage& image, int width, int height,
                         Interpolation interpolation) {
  check_positive("resize width", width);
  check_positive("resize height", height);
  check_resized(width, height, image.width, image.height);
  if (width == image.width && height == image.height) return image;  // PIL copies
  switch (interpolation) {
    case Interpolation::kNearest: return resize_nearest(image, width, height);
    case Interpolation::kBilinear:
      return resample_separable(image, width, height, {bilinear_weight, 1.0});
    case Interpolation::kBicubic:
      return resample_separable(image, width, height, {bicubic_weight, 2.0});
  }
  fail("resize_like_pil: unknown interpolation value ", static_cast<int>(interpolation));
}

RgbImage center_crop(const RgbImage& image, int width, int height) {
  return center_crop(image, width, height, false);
}

RgbImage center_crop(const RgbImage& image, int width, int height, bool corner_floored) {
  check_positive("crop width", width);
  check_positive("crop height", height);
  const int left = crop_start(image.width, width, corner_floored),
            top = crop_start(image.height, height, corner_floored);
  RgbImage out(width, height);  // black where the crop pads
  for (int y = std::max(0, -top); y < height && top + y < image.height; ++y) {
    const int x0 = std::max(0, -left), x1 = std::min(width, image.width - left);
    const uint8_t* from =
        &image.pixels[(static_cast<size_t>(top + y) * image.width + left + x0) * 3];
    std::copy(from, from + (x1 - x0) * 3, &out.pixels[(static_cast<size_t>(y) * width + x0) * 3]);
  }
  return out;
}

Preprocess timm_preprocess(int height, int width, double crop_pct, Interpolation interpolation,
                           const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  check_positive("input height", height);
  check_positive("input width", width);
  if (!(crop_pct > 0.0 && crop_pct <= 1.0)) {
    usage_fail("preprocess: crop_pct ", crop_pct, " must be in (0, 1]");
  }
  Preprocess spec;
  // timm's scale_size: each side over crop_pct, floored.
  const int scaled_height = static_cast<int>(std::floor(height / crop_pct));
  const int scaled_width = static_cast<int>(std::floor(width / crop_pct));
  if (scaled_height == scaled_width) {
    spec.resize = Preprocess::Resize::kShorterSide;
    spec.shorter_side = scaled_height;
  } else {
    spec.resize = Preprocess::Resize::kKeepRatio;
    spec.resize_width = scaled_width;
    spec.resize_height = scaled_height;
  }
  spec.interpolation = interpolation;
  spec.crop_width = width;
  spec.crop_height = height;
  spec.mean = mean;
  spec.std = std;
  check_spec(spec);
  return spec;
}

Preprocess hugging_face_vit_preprocess(int height, int width, Interpolation interpolation,
                                       const std::array<float, 3>& mean,
                                       const std::array<float, 3>& std) {
  Preprocess spec;
  spec.resize = Preprocess::Resize::kExact;
  spec.resize_width = width;
  spec.resize_height = height;
  spec.interpolation = interpolation;
  spec.mean = mean;
  spec.std = std;
  check_spec(spec);
  return spec;
}

PreprocessPlan plan_preprocess(int width, int height, const Preprocess& spec) {
  check_spec(spec);
  int64_t resized_width = width, resized_height = height;
  if (spec.resize == Preprocess::Resize::kShorterSide) {
    shorter_side_size(width, height, spec.shorter_side, resized_width, resized_height);
  } else if (spec.resize == Preprocess::Resize::kExact) {
    resized_width = spec.resize_width;
    resized_height = spec.resize_height;
  } else if (spec.resize == Preprocess::Resize::kKeepRatio) {
    keep_ratio_size(width, height, spec.resize_width, spec.resize_height, resized_width,
                    resized_height);
  }
  check_resized(resized_width, resized_height, width, height);
  PreprocessPlan plan;
  plan.resized_width = plan.width = static_cast<int>(resized_width);
  plan.resized_height = plan.height = static_cast<int>(resized_height);
  if (spec.crop_width != 0) {
    plan.width = spec.crop_width;
    plan.height = spec.crop_height;
    plan.crop_left = crop_start(plan.resized_width, plan.width, spec.crop_corner_floored);
    plan.crop_top = crop_start(plan.resized_height, plan.height, spec.crop_corner_floored);
  }
  check_resized(plan.width, plan.height, plan.resized_width, plan.resized_height);
  return plan;
}

RgbImage resize_and_crop(const RgbImage& image, const Preprocess& spec) {
  const PreprocessPlan plan = plan_preprocess(image.width, image.height, spec);
  RgbImage resized =
      resize_like_pil(image, plan.resized_width, plan.resized_height, spec.interpolation);
  if (spec.crop_width != 0) {
    resized = center_crop(resized, plan.width, plan.height, spec.crop_corner_floored);
  }
  return resized;
}

ChwImage normalize(const RgbImage& picture, const Preprocess& spec) {
  check_spec(spec);
  ChwImage out;
  out.height = picture.height;
  out.width = picture.width;
  const size_t plane = static_cast<size_t>(out.width) * out.height;
  out.values.resize(plane * 3);
  for (int c = 0; c < 3; ++c) {
    for (size_t i = 0; i < plane; ++i) {
      // ToTensor then Normalize, in float32 and in that order.
      const float scaled = static_cast<float>(picture.pixels[i * 3 + c]) / 255.0f;
      out.values[c * plane + i] = (scaled - spec.mean[c]) / spec.std[c];
    }
  }
  return out;
}

ChwImage preprocess(const RgbImage& image, const Preprocess& spec) {
  return normalize(resize_and_crop(image, spec), spec);
}

std::vector<float> to_patch_tokens(const ChwImage& image, int patch) {
  if (patch < 1 || image.height % patch != 0 || image.width % patch != 0) {
    usage_fail("patch tokens: a patch of ", patch, " pixels does not divide the ", image.width,
               " x ", image.height, " input; the model's input size must be a multiple of it");
  }
  const int grid_w = image.width / patch, grid_h = image.height / patch;
  const size_t features = static_cast<size_t>(image.channels) * patch * patch;
  std::vector<float> tokens(static_cast<size_t>(grid_w) * grid_h * features);
  for (int c = 0; c < image.channels; ++c) {
    for (int y = 0; y < image.height; ++y) {
      const float* row = &image.values[(static_cast<size_t>(c) * image.height + y) * image.width];
      // Row y feeds grid row y / patch, at features c * p * p + (y % p) * p + (x % p).
      float* token_row = &tokens[(static_cast<size_t>(y / patch) * grid_w) * features +
                                 (static_cast<size_t>(c) * patch + y % patch) * patch];
      for (int x = 0; x < image.width; ++x) {
        token_row[(x / patch) * features + x % patch] = row[x];
      }
    }
  }
  return tokens;
}

}  // namespace sav::image
