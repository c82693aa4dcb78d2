// The PNG reader (sav/image/png.h) on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "sav/image/photo.h"
#include "sav/image/png.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sav::fuzz::kMaxInputBytes) return -1;  // -1: not added to the corpus
  const sav::fuzz::InputFile input(data, size);
  sav::fuzz::refusal_is_fine([&] { sav::image::png_has_color(input.path()); });
  sav::fuzz::refusal_is_fine([&] {
    const sav::image::Canvas canvas = sav::image::read_png(input.path());
    if (canvas.width() > sav::image::kMaxPngSide || canvas.height() > sav::image::kMaxPngSide ||
        int64_t{canvas.width()} * canvas.height() > sav::image::kMaxPngPixels) {
      sav::fuzz::broken("images over the limits are refused");
    }
  });
  // The photo path: the same decoding, with the eXIf chunk found and the picture turned.
  sav::fuzz::refusal_is_fine([&] {
    const sav::image::RgbImage photo = sav::image::load_photo(input.path());
    if (photo.pixels.size() != static_cast<size_t>(photo.width) * photo.height * 3) {
      sav::fuzz::broken("a photo's pixels match its size");
    }
  });
  return 0;
}
