// Shape of a tensor: up to four dimensions, row-major, contiguous.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <string>

namespace sav {

// a * b and a + b, or std::nullopt when the result does not fit int64_t. Sizes that come from a
// file are multiplied with these before anything is allocated, since a wrapped product would
// allocate a small buffer that is then written far past its end.
inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t product;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}
inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

class Shape {
 public:
  static constexpr int kMaxRank = 4;
  // At most 2^60 elements, so that the byte count of any element type up to 8 bytes fits int64_t.
  static constexpr int64_t kMaxNumel = int64_t{1} << 60;

  Shape() = default;
  // Throws sav::Error for more than kMaxRank dimensions, a dimension that is not positive, or
  // more than kMaxNumel elements in all.
  Shape(std::initializer_list<int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int axis) const;  // negative axes count from the end
  int64_t numel() const;
  // Product of all dimensions but the last: the number of rows a row-wise kernel sees.
  int64_t rows() const { return rank_ == 0 ? 1 : numel() / dims_[rank_ - 1]; }
  int64_t last() const { return rank_ == 0 ? 1 : dims_[rank_ - 1]; }

  // The same dimensions with the last one replaced by `last`.
  Shape with_last(int64_t last) const;

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }
  std::string str() const;  // "[2, 65, 256]"

 private:
  void check_numel() const;  // throws unless numel() <= kMaxNumel

  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

std::ostream& operator<<(std::ostream& out, const Shape& shape);

}  // namespace sav
