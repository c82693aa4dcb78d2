// Photographs as published ImageNet ViTs (timm, DeiT, Hugging Face) take them: a JPEG or PNG
// decoded to upright 8-bit RGB, then resized, centre-cropped and normalised exactly as those
// models' own Python preprocessing does it with PIL, and cut into patch tokens.
//
// The resampling reproduces PIL's Image.resize for 8-bit RGB to the byte (Pillow's
// src/libImaging/Resample.c): separable filters whose support widens by the downscale factor
// (antialiasing), coefficients normalised per output pixel and held in 22-bit fixed point, the
// horizontal pass first, each pass rounded and clamped to a byte. A model fine-tuned on PIL's
// pixels is sensitive to them, so close is not enough: tests/test_photo.cpp compares with PIL.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "sav/image/canvas.h"

namespace sav::image {

// An 8-bit RGB picture, interleaved: rows top to bottom, pixels left to right, then R, G, B (the
// layout of Canvas::pixels() and of PIL's and NumPy's [H, W, 3] arrays).
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3

  RgbImage() = default;
  // Throws sav::Error for a side below 1 or a size over kMaxPhotoSide / kMaxPhotoPixels.
  RgbImage(int width, int height);
};

// The largest photo sav decodes, checked from the file's header before anything is decoded: a
// 48 Mpixel camera frame or an 8K screen fits with room to spare, while the worst JPEG (a
// progressive CMYK one at the limit: its coefficients, its inks and the RGB pixels) decodes in
// about 2 GB. PNGs are read by read_png (sav/image/png.h), whose own limits are lower
// (kMaxPngPixels).
constexpr int64_t kMaxPhotoSide = 16384;
constexpr int64_t kMaxPhotoPixels = int64_t{1} << 27;  // 134,217,728

// Reads a JPEG or a PNG, told apart by the file's first bytes (not its name), as upright RGB:
// - JPEG (sav/image/jpeg.h): colour, greyscale, CMYK and YCCK, turned as its EXIF Orientation
//   tag says (as PIL's ImageOps.exif_transpose, which Hugging Face's load_image applies; timm's
//   own loader leaves a phone's portrait photo on its side);
// - PNG (read_png): any colour type and bit depth; alpha is dropped, not blended (as PIL's
//   convert("RGB")); 16-bit samples keep their high byte (PIL clips 16-bit grey to 255 instead);
//   turned as the Orientation tag of its eXIf chunk says, as for a JPEG.
// Only a regular file is opened (a FIFO is refused at once, without waiting for a writer).
// Throws sav::Error naming the file when it cannot be opened, is neither format, is over the
// limits (naming them; refused from the header), or is damaged or cut short.
RgbImage load_photo(const std::string& path);

// The same pixels as a Canvas to draw on, and back.
Canvas canvas_from_photo(const RgbImage& photo);
RgbImage photo_from_canvas(const Canvas& canvas);

// Applies an EXIF orientation (1..8) to a picture as stored, giving the upright picture:
// 2 mirrors left-right, 3 turns 180 degrees, 4 mirrors top-bottom, 5 transposes (mirrors along
// the main diagonal), 6 turns 90 degrees clockwise, 7 transverses (mirrors along the other
// diagonal), 8 turns 90 degrees anticlockwise; 5 to 8 swap width and height. 1, and any value
// outside 1..8, leave the picture as it is.
RgbImage apply_orientation(const RgbImage& stored, int orientation);

enum class Interpolation {
  kNearest,   // PIL NEAREST: no averaging, even when shrinking
  kBilinear,  // PIL BILINEAR: triangle filter, support 1 pixel (widened when shrinking)
  kBicubic,   // PIL BICUBIC: Keys' cubic, a = -0.5, support 2 pixels (widened when shrinking)
};

// "nearest", "bilinear" or "bicubic" (the names timm and torchvision use); sav::UsageError
// listing them otherwise.
Interpolation parse_interpolation(const std::string& name);
std::string interpolation_name(Interpolation interpolation);

// PIL's Image.resize(image, (width, height), filter) for an RGB image, to the byte. Throws
// sav::Error for a size below 1 or over the photo limits.
RgbImage resize_like_pil(const RgbImage& image, int width, int height, Interpolation interpolation);

// torchvision's CenterCrop((height, width)) on a PIL image: the box's top-left corner at
// (round((W - width) / 2), round((H - height) / 2)), rounding halves to even as Python's round
// does; a crop larger than the image pads it with black first, as torchvision does. (Hugging
// Face's center_crop floors instead: the same corner whenever W - width and H - height are even,
// as for DeiT's 256 -> 224.)
RgbImage center_crop(const RgbImage& image, int width, int height);
// The same with Hugging Face's floored corner when `corner_floored`.
RgbImage center_crop(const RgbImage& image, int width, int height, bool corner_floored);

// A model's preprocessing of a photo. Build one with timm_preprocess or
// hugging_face_vit_preprocess, or fill it in.
struct Preprocess {
  enum class Resize {
    kNone,
    kShorterSide,  // the shorter side to `shorter_side`, the other keeping the aspect ratio,
                   // truncated (torchvision's Resize(int))
    kExact,        // to resize_width x resize_height (Hugging Face's size {height, width})
    kKeepRatio,    // the side that needs the smaller scale to resize_width or resize_height,
                   // the other keeping the aspect ratio, both rounded (timm's ResizeKeepRatio,
                   // its eval transform for a non-square input)
  };
  Resize resize = Resize::kShorterSide;
  int shorter_side = 0;
  int resize_width = 0, resize_height = 0;
  Interpolation interpolation = Interpolation::kBicubic;
  int crop_width = 0, crop_height = 0;  // a centre crop; 0 x 0 for none
  // The crop's corner: (W - width) / 2 rounded half to even as torchvision does, or floored as
  // Hugging Face's image processors do (the same whenever the difference is even).
  bool crop_corner_floored = false;
  // value = (byte / 255 - mean[c]) / std[c], in float32 in that order (torchvision's ToTensor
  // then Normalize).
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};
};

constexpr std::array<float, 3> kImagenetMean{0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImagenetStd{0.229f, 0.224f, 0.225f};

// timm's evaluation transform (transforms_factory, crop_mode "center") for a height x width
// input: a square input has its shorter side resized to floor(side / crop_pct), a non-square one
// goes through ResizeKeepRatio to floor(height / crop_pct) x floor(width / crop_pct); then a
// centre crop of height x width. DeiT and timm's ImageNet ViTs: bicubic, crop_pct 0.875 or 0.9,
// the ImageNet mean and std. Throws sav::UsageError for a size below 1 or a crop_pct outside
// (0, 1].
Preprocess timm_preprocess(int height, int width, double crop_pct,
                           Interpolation interpolation = Interpolation::kBicubic,
                           const std::array<float, 3>& mean = kImagenetMean,
                           const std::array<float, 3>& std = kImagenetStd);

// Hugging Face's ViTImageProcessor: an exact resize to height x width (bilinear), no crop,
// mean = std = 0.5 per channel unless given. (DeiTImageProcessor adds a centre crop with a floored
// corner: set crop_width, crop_height and crop_corner_floored.)
Preprocess hugging_face_vit_preprocess(int height, int width,
                                       Interpolation interpolation = Interpolation::kBilinear,
                                       const std::array<float, 3>& mean = {0.5f, 0.5f, 0.5f},
                                       const std::array<float, 3>& std = {0.5f, 0.5f, 0.5f});

// Where a photo of width x height goes under `spec`: the size after resizing and the crop box
// in the resized picture (its corner may be negative where the crop pads). What maps a heat map
// over the model's input back onto the photo.
struct PreprocessPlan {
  int resized_width = 0, resized_height = 0;
  int crop_left = 0, crop_top = 0;
  int width = 0, height = 0;  // the model's input
};

// Throws sav::UsageError naming the field for a spec that cannot be used (a size below 1, a
// std of 0 or not finite), and sav::Error when the resized picture would be over the photo
// limits.
PreprocessPlan plan_preprocess(int width, int height, const Preprocess& spec);

// A float32 image, channel-planar: values[(c * height + y) * width + x] ([3, H, W], PyTorch's
// CHW).
struct ChwImage {
  int channels = 3, height = 0, width = 0;
  std::vector<float> values;
};

// Resizes and centre-crops `image` as `spec` says: the picture the model sees, before
// normalisation (what a heat map is drawn over). Errors as plan_preprocess's.
RgbImage resize_and_crop(const RgbImage& image, const Preprocess& spec);

// The model's [3, H, W] input from the picture resize_and_crop gives: value = (byte / 255 -
// mean[c]) / std[c].
ChwImage normalize(const RgbImage& picture, const Preprocess& spec);

// Resizes, centre-crops, then normalises `image` as `spec` says: the model's [3, H, W] input,
// H x W as plan_preprocess gives it. Errors as plan_preprocess's.
ChwImage preprocess(const RgbImage& image, const Preprocess& spec);

// Cuts a [C, H, W] image into non-overlapping patch x patch squares: tokens
// [(H / patch) * (W / patch), C * patch * patch], token t the square in grid row t / (W / patch)
// and column t % (W / patch), its features in the order (channel, row in patch, column in
// patch), the order a Conv2d(C, d, patch, stride=patch) weight flattens in (as
// sav/data/images.h does for CIFAR-10). Throws sav::UsageError when the patch is below 1 or does
// not divide both sides.
std::vector<float> to_patch_tokens(const ChwImage& image, int patch);

}  // namespace sav::image
