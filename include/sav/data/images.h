// From CIFAR-10 pixel bytes to model input: augmentation on the bytes, then the 4 x 4 patch
// layout of the ViT (docs/design.md section 1) as floats.
#pragma once

#include <array>
#include <cstdint>

namespace sav::data {

constexpr int kPatchSide = 4, kGridSide = 8;
constexpr int kPatches = kGridSide * kGridSide;              // 64 tokens
constexpr int kPatchFeatures = 3 * kPatchSide * kPatchSide;  // 48 values per patch

// value = (byte / 255 - mean[c]) / std[c]; the default is bytes / 255 (the seed recipe).
struct Normalization {
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};
};

// pixels (planar R, G, B, each 32 x 32 row-major) -> patches [64, 48]: pixel (c, y, x) goes to
// token (y / 4) * 8 + x / 4, feature c * 16 + (y % 4) * 4 + x % 4.
void image_to_patches(const uint8_t* pixels, const Normalization& normalization, float* patches);

// out(c, y, x) = in(c, y + shift_y, x') with x' = x + shift_x, mirrored first when `flip`
// (x' = 31 - (x + shift_x)); pixels shifted in from outside the image are 0. A shift of up to
// p pixels each way is a random crop of the image zero-padded by p.
void transform_image(const uint8_t* in, bool flip, int shift_y, int shift_x, uint8_t* out);

}  // namespace sav::data
