#include "sav/shape.h"

#include <ostream>

#include "sav/error.h"

namespace sav {

Shape::Shape(std::initializer_list<int64_t> dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    fail("shape: ", dims.size(), " dimensions given, at most ", kMaxRank, " are supported");
  }
  for (int64_t d : dims) {
    if (d <= 0) {
      std::ostringstream all;
      for (int64_t x : dims) all << (all.tellp() > 0 ? ", " : "") << x;
      fail("shape: every dimension must be positive, got [", all.str(), "]");
    }
    dims_[rank_++] = d;
  }
  check_numel();
}

void Shape::check_numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) {
    const std::optional<int64_t> product = checked_mul(n, dims_[i]);
    if (!product || *product > kMaxNumel) {
      fail("shape ", str(), ": more than 2^60 elements (", kMaxNumel,
           "); a size read from a file "
           "or flag is far too large");
    }
    n = *product;
  }
}

int64_t Shape::operator[](int axis) const {
  const int index = axis < 0 ? axis + rank_ : axis;
  if (index < 0 || index >= rank_) fail("shape ", str(), ": axis ", axis, " is out of range");
  return dims_[index];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

Shape Shape::with_last(int64_t last) const {
  if (rank_ == 0) fail("shape []: has no last dimension to replace");
  if (last <= 0) fail("shape ", str(), ": a dimension must be positive, got ", last);
  Shape result = *this;
  result.dims_[rank_ - 1] = last;
  result.check_numel();
  return result;
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[i] != other.dims_[i]) return false;
  }
  return true;
}

std::string Shape::str() const {
  std::string text = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(dims_[i]);
  }
  return text + "]";
}

std::ostream& operator<<(std::ostream& out, const Shape& shape) { return out << shape.str(); }

}  // namespace sav
