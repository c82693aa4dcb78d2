// The CIFAR-10 reader (sav/data/cifar10.h) on arbitrary bytes: as a .bin file of records, every
// record read, and as a batches.meta.txt of class names.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "sav/data/cifar10.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > sav::fuzz::kMaxInputBytes) return -1;  // -1: not added to the corpus
  const sav::fuzz::InputFile input(data, size);
  sav::fuzz::refusal_is_fine([&] {
    const sav::data::RecordSet set = sav::data::RecordSet::open({input.path()});
    uint8_t pixels[sav::data::kPixelBytes];
    for (int64_t i = 0; i < set.size(); ++i) {
      sav::fuzz::refusal_is_fine([&] {  // a bad label refuses one record, not the set
        const int label = set.read(i, pixels);
        if (label < 0 || label >= sav::data::kClasses) sav::fuzz::broken("labels are classes");
      });
      set.describe(i);
    }
    const sav::data::RecordSet tail = set.subset(1, set.size() - 1);
    if (tail.size() != set.size() - 1) sav::fuzz::broken("a subset has the size asked for");
  });
  sav::fuzz::refusal_is_fine([&] {
    if (sav::data::read_class_names(input.path()).size() != sav::data::kClasses) {
      sav::fuzz::broken("ten class names");
    }
  });
  return 0;
}
