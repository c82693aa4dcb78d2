// Small CIFAR-format files written by the tests themselves.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "test_support.h"

namespace sav::testing {

// The test pattern: a byte for every (record, channel, y, x), never 0 so that zero fill shows.
inline uint8_t pattern_pixel(int64_t record, int c, int y, int x) {
  return static_cast<uint8_t>(1 + (record * 7 + c * 31 + y * 3 + x * 5) % 255);
}
inline uint8_t pattern_label(int64_t record) { return static_cast<uint8_t>(record % 10); }

// Writes `count` pattern records numbered from `first` into folder/name; returns the path.
inline std::string write_records(const TempFolder& folder, const std::string& name, int64_t first,
                                 int64_t count) {
  std::ofstream out(folder.file(name), std::ios::binary);
  for (int64_t r = first; r < first + count; ++r) {
    out.put(static_cast<char>(pattern_label(r)));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.put(static_cast<char>(pattern_pixel(r, c, y, x)));
  }
  return folder.file(name);
}

}  // namespace sav::testing
