// sav_viz under mpirun: which images each process of the job takes, and the bytes that carry
// each image's result to rank 0, which alone prints and writes.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "sav/data/loader.h"
#include "sav/error.h"

namespace sav {

// Items [first, last) of a job's n: rank r of `ranks` takes [floor(r n / ranks),
// floor((r + 1) n / ranks)), contiguous, in rank order, sizes differing by at most one.
struct Share {
  int64_t first = 0, last = 0;
};

inline Share share_of(int64_t n, int rank, int ranks) {
  return {data::shard_begin(n, rank, ranks), data::shard_begin(n, rank + 1, ranks)};
}

// Appends values to a buffer as their bytes: ranks of one job run the same program on the same
// kind of machine, so nothing is converted.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}

  template <typename T>
  void put(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
    out_.insert(out_.end(), bytes, bytes + sizeof value);
  }

  // The number of values, then the values.
  template <typename T>
  void put_all(const std::vector<T>& values) {
    static_assert(std::is_trivially_copyable_v<T>);
    put<uint64_t>(values.size());
    const auto* bytes = reinterpret_cast<const uint8_t*>(values.data());
    out_.insert(out_.end(), bytes, bytes + values.size() * sizeof(T));
  }

 private:
  std::vector<uint8_t>& out_;
};

// Reads back what a ByteWriter wrote; sav::Error where the bytes end too soon.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : at_(data), end_(data + size) {}

  bool done() const { return at_ == end_; }

  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    take(&value, sizeof value);
    return value;
  }

  template <typename T>
  std::vector<T> get_all() {
    const uint64_t count = get<uint64_t>();
    if (count > static_cast<uint64_t>(end_ - at_) / sizeof(T)) cut_short();
    std::vector<T> values(count);
    take(values.data(), count * sizeof(T));
    return values;
  }

 private:
  void take(void* to, size_t bytes) {
    if (bytes > static_cast<size_t>(end_ - at_)) cut_short();
    if (bytes > 0) std::memcpy(to, at_, bytes);
    at_ += bytes;
  }

  [[noreturn]] static void cut_short() {
    fail("the results gathered from the job's ranks end too soon: a rank sent less than its share");
  }

  const uint8_t* at_;
  const uint8_t* end_;
};

}  // namespace sav
