// Small CIFAR-format files written by the tests themselves, in a fresh temporary folder.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sav/data/cifar10.h"

namespace sav::testing {

// The test pattern: a byte for every (record, channel, y, x), never 0 so that zero fill shows.
inline uint8_t pattern_pixel(int64_t record, int c, int y, int x) {
  return static_cast<uint8_t>(1 + (record * 7 + c * 31 + y * 3 + x * 5) % 255);
}
inline uint8_t pattern_label(int64_t record) { return static_cast<uint8_t>(record % 10); }

class TempFolder {
 public:
  TempFolder() {
    std::string templ = ::testing::TempDir() + "sav_test_XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempFolder() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes `count` pattern records numbered from `first`.
  std::string write_records(const std::string& name, int64_t first, int64_t count) const {
    std::ofstream out(file(name), std::ios::binary);
    for (int64_t r = first; r < first + count; ++r) {
      out.put(static_cast<char>(pattern_label(r)));
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x) out.put(static_cast<char>(pattern_pixel(r, c, y, x)));
    }
    return file(name);
  }

  std::string write_bytes(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::ofstream out(file(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return file(name);
  }

 private:
  std::string path_;
};

}  // namespace sav::testing
