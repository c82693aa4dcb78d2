// The checkpoint reader (read_checkpoint in sav/train/checkpoint.h) on arbitrary bytes: the
// safetensors layer and the metadata on top of it (format, stored configuration, progress).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "sav/train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sav::fuzz::kMaxInputBytes) return -1;  // -1: not added to the corpus
  const sav::fuzz::InputFile input(data, size);
  sav::fuzz::refusal_is_fine([&] {
    const sav::train::Checkpoint checkpoint = sav::train::read_checkpoint(input.path());
    // The stored configuration went through the same validation as a configuration file.
    sav::train::validate_config(checkpoint.config, "the stored configuration, again");
  });
  return 0;
}
