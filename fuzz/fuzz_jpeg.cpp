// The photo reader (sav/image/photo.h: JPEG through TurboJPEG, with its Exif parser) on
// arbitrary bytes, and the preprocessing of what it accepts.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "sav/image/jpeg.h"
#include "sav/image/photo.h"

namespace {

// Larger photos are decoded but not preprocessed: resampling a big picture takes long and finds
// nothing a small one does not.
constexpr int64_t kMaxPreprocessedPixels = int64_t{1} << 16;

void check(const sav::image::RgbImage& image) {
  const int64_t pixels = int64_t{image.width} * image.height;
  if (image.width < 1 || image.height < 1 || image.width > sav::image::kMaxPhotoSide ||
      image.height > sav::image::kMaxPhotoSide || pixels > sav::image::kMaxPhotoPixels) {
    sav::fuzz::broken("photos over the limits are refused");
  }
  if (image.pixels.size() != static_cast<size_t>(pixels) * 3) {
    sav::fuzz::broken("a photo holds 3 bytes a pixel");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sav::fuzz::kMaxInputBytes) return -1;  // -1: not added to the corpus
  const int orientation = sav::image::jpeg_exif_orientation(data, size);
  if (orientation < 1 || orientation > 8) sav::fuzz::broken("orientations are 1 to 8");
  const sav::fuzz::InputFile input(data, size);
  sav::fuzz::refusal_is_fine([&] {
    const sav::image::RgbImage image = sav::image::load_photo(input.path());
    check(image);
    if (int64_t{image.width} * image.height > kMaxPreprocessedPixels) return;
    const sav::image::ChwImage chw =
        sav::image::preprocess(image, sav::image::timm_preprocess(32, 32, 0.875));
    if (chw.values.size() != size_t{3} * 32 * 32) sav::fuzz::broken("the model's input size");
    if (sav::image::to_patch_tokens(chw, 16).size() != chw.values.size()) {
      sav::fuzz::broken("patch tokens hold every value");
    }
  });
  return 0;
}
