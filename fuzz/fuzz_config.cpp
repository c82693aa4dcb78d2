// The training configuration (sav/train/config.h) read from an arbitrary file.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "sav/train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sav::fuzz::kMaxInputBytes) return -1;  // -1: not added to the corpus
  const sav::fuzz::InputFile input(data, size);
  sav::fuzz::refusal_is_fine([&] {
    const sav::train::Config config = sav::train::load_config(input.path());
    // A checkpoint stores config_to_json and reads it back with parse_config: whatever was
    // accepted must survive that unchanged.
    const sav::train::Config again =
        sav::train::parse_config(sav::train::config_to_json(config), "the round trip");
    if (!sav::train::first_difference(config, again).empty()) {
      sav::fuzz::broken("config_to_json then parse_config gives the same configuration");
    }
  });
  return 0;
}
