#include "sav/data/images.h"

#include "sav/data/cifar10.h"

namespace sav::data {

void image_to_patches(const uint8_t* pixels, const Normalization& normalization, float* patches) {
  constexpr int kPlane = kImageSide * kImageSide;
  for (int c = 0; c < kChannels; ++c) {
    const float scale = 1.0f / (255.0f * normalization.std[c]);
    const float shift = normalization.mean[c] / normalization.std[c];
    for (int y = 0; y < kImageSide; ++y) {
      const uint8_t* row = pixels + c * kPlane + y * kImageSide;
      // Row y feeds tokens (y / 4) * 8 .. + 7, at features c * 16 + (y % 4) * 4 .. + 3.
      float* token_row = patches + (y / kPatchSide) * kGridSide * kPatchFeatures +
                         c * kPatchSide * kPatchSide + (y % kPatchSide) * kPatchSide;
      for (int x = 0; x < kImageSide; ++x) {
        token_row[(x / kPatchSide) * kPatchFeatures + x % kPatchSide] = row[x] * scale - shift;
      }
    }
  }
}

void transform_image(const uint8_t* in, bool flip, int shift_y, int shift_x, uint8_t* out) {
  constexpr int kPlane = kImageSide * kImageSide;
  for (int c = 0; c < kChannels; ++c) {
    for (int y = 0; y < kImageSide; ++y) {
      const int source_y = y + shift_y;
      for (int x = 0; x < kImageSide; ++x) {
        const int shifted_x = x + shift_x;
        const int source_x = flip ? kImageSide - 1 - shifted_x : shifted_x;
        const bool inside =
            source_y >= 0 && source_y < kImageSide && shifted_x >= 0 && shifted_x < kImageSide;
        out[c * kPlane + y * kImageSide + x] =
            inside ? in[c * kPlane + source_y * kImageSide + source_x] : 0;
      }
    }
  }
}

}  // namespace sav::data
