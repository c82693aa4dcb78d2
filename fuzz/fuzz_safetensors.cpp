// The safetensors reader (sav/io/safetensors.h) on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "sav/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sav::fuzz::kMaxInputBytes) return -1;  // -1: not added to the corpus
  const sav::fuzz::InputFile input(data, size);
  sav::fuzz::refusal_is_fine([&] {
    const sav::io::SafetensorsFile file = sav::io::load_safetensors(input.path());
    // What the reader promises of every file it accepts.
    for (const sav::io::StoredTensor& tensor : file.tensors) {
      if (tensor.shape.empty()) sav::fuzz::broken("every tensor has a dimension");
      uint64_t count = 1;
      for (const int64_t d : tensor.shape) {
        if (d <= 0) sav::fuzz::broken("every dimension is positive");
        count *= static_cast<uint64_t>(d);
      }
      if (count != tensor.values.size()) sav::fuzz::broken("product(shape) values");
      if (file.find(tensor.name) != &tensor) sav::fuzz::broken("names are unique and found");
    }
  });
  return 0;
}
