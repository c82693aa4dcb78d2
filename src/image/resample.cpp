#include "sav/image/resample.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>

#include "sav/error.h"

namespace sav::image {
namespace {

// Keys' cubic convolution parameter: -0.5 is the one value whose kernel reproduces lines and
// parabolas exactly (Keys 1981); OpenCV and PyTorch use -0.75.
constexpr double kKeysA = -0.5;

// One source sample's share in a destination sample along one axis.
struct Tap {
  int index;
  double weight;
};
using Taps = std::vector<std::vector<Tap>>;  // [dst][taps], the weights of each summing to 1

constexpr Upsample kAllMethods[] = {Upsample::kNearest, Upsample::kBilinear, Upsample::kBicubic};

// The source coordinate of destination pixel x's centre, in source pixels from the centre of
// source pixel 0.
double source_coordinate(int x, int src, int dst) { return (x + 0.5) * src / dst - 0.5; }

Taps nearest_taps(int src, int dst) {
  Taps taps(static_cast<size_t>(dst));
  for (int x = 0; x < dst; ++x) {
    // floor((x + 0.5) * src / dst) in integers, so whole-number scales give exact blocks.
    const int64_t index = (2 * int64_t{x} + 1) * src / (2 * int64_t{dst});
    taps[x] = {{static_cast<int>(std::min<int64_t>(index, src - 1)), 1.0}};
  }
  return taps;
}

Taps linear_taps(int src, int dst) {
  Taps taps(static_cast<size_t>(dst));
  for (int x = 0; x < dst; ++x) {
    const double s = std::clamp(source_coordinate(x, src, dst), 0.0, src - 1.0);
    const int i0 = static_cast<int>(std::floor(s));
    const int i1 = std::min(i0 + 1, src - 1);
    const double f = s - i0;
    taps[x] = {{i0, 1.0 - f}, {i1, f}};
  }
  return taps;
}

double keys_kernel(double x) {
  x = std::fabs(x);
  if (x <= 1.0) return ((kKeysA + 2.0) * x - (kKeysA + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((kKeysA * x - 5.0 * kKeysA) * x + 8.0 * kKeysA) * x - 4.0 * kKeysA;
  return 0.0;
}

Taps cubic_taps(int src, int dst) {
  Taps taps(static_cast<size_t>(dst));
  for (int x = 0; x < dst; ++x) {
    const double s = source_coordinate(x, src, dst);
    const int i = static_cast<int>(std::floor(s));
    const double f = s - i;  // in [0, 1): at f = 0 the weights are exactly 0, 1, 0, 0
    for (int k = -1; k <= 2; ++k) {
      taps[x].push_back({std::clamp(i + k, 0, src - 1), keys_kernel(f - k)});
    }
  }
  return taps;
}

// Shrinking (dst < src): destination pixel x covers source span [x * src / dst, (x + 1) * src /
// dst). Measured in units of 1 / dst source pixels, every bound is a whole number, so the overlaps
// are exact and each pixel's weights sum to exactly 1.
Taps area_taps(int src, int dst) {
  Taps taps(static_cast<size_t>(dst));
  for (int x = 0; x < dst; ++x) {
    const int64_t lo = int64_t{x} * src, hi = int64_t{x + 1} * src;
    for (int64_t i = lo / dst; i * dst < hi; ++i) {
      const int64_t overlap = std::min(hi, (i + 1) * dst) - std::max(lo, i * dst);
      taps[x].push_back({static_cast<int>(i), static_cast<double>(overlap) / src});
    }
  }
  return taps;
}

Taps taps_for(Upsample method, int src, int dst) {
  switch (method) {
    case Upsample::kNearest: return nearest_taps(src, dst);
    case Upsample::kBilinear: return linear_taps(src, dst);
    case Upsample::kBicubic: return cubic_taps(src, dst);
  }
  fail("resize_map: unknown upsampling method value ", static_cast<int>(method));
}

// plane (h, w) -> (along_y.size(), along_x.size()): rows first, then columns.
std::vector<double> resample(const std::vector<double>& plane, int w, int h, const Taps& along_x,
                             const Taps& along_y) {
  const size_t out_w = along_x.size();
  std::vector<double> rows(static_cast<size_t>(h) * out_w);  // (h, out_w)
  for (int y = 0; y < h; ++y) {
    const double* in = plane.data() + static_cast<size_t>(y) * w;
    for (size_t x = 0; x < out_w; ++x) {
      double sum = 0.0;
      for (const Tap& tap : along_x[x]) sum += tap.weight * in[tap.index];
      rows[y * out_w + x] = sum;
    }
  }
  std::vector<double> out(along_y.size() * out_w, 0.0);  // (out_h, out_w)
  for (size_t y = 0; y < along_y.size(); ++y) {
    double* row = out.data() + y * out_w;
    for (const Tap& tap : along_y[y]) {
      const double* in = rows.data() + static_cast<size_t>(tap.index) * out_w;
      for (size_t x = 0; x < out_w; ++x) row[x] += tap.weight * in[x];
    }
  }
  return out;
}

void check_size(const char* what, int64_t width, int64_t height) {
  if (width < 1 || height < 1) fail(what, " ", width, " x ", height, " must be at least 1 x 1");
  if (width * height > Canvas::kMaxPixels) {
    fail(what, " ", width, " x ", height, " is over the limit of ", Canvas::kMaxPixels, " pixels");
  }
}

}  // namespace

Upsample parse_upsample(const std::string& name) {
  for (const Upsample method : kAllMethods) {
    if (name == upsample_name(method)) return method;
  }
  usage_fail("unknown upsampling method '", name, "' (choose one of: ", upsample_choices(), ")");
}

std::string upsample_name(Upsample method) {
  switch (method) {
    case Upsample::kNearest: return "nearest";
    case Upsample::kBilinear: return "bilinear";
    case Upsample::kBicubic: return "bicubic";
  }
  fail("upsample_name: unknown upsampling method value ", static_cast<int>(method));
}

std::string upsample_choices() {
  std::string names;
  for (const Upsample method : kAllMethods) {
    names += (names.empty() ? "" : ", ") + upsample_name(method);
  }
  return names;
}

std::vector<float> resize_map(const std::vector<float>& map, int src_w, int src_h, int dst_w,
                              int dst_h, Upsample method) {
  check_size("resize_map: source size", src_w, src_h);
  check_size("resize_map: destination size", dst_w, dst_h);
  if (map.size() != static_cast<size_t>(src_w) * src_h) {
    fail("resize_map: the map has ", map.size(), " values, not ", src_w, " x ", src_h, " = ",
         static_cast<size_t>(src_w) * src_h);
  }
  const std::vector<double> plane(map.begin(), map.end());
  const std::vector<double> out =
      resample(plane, src_w, src_h, taps_for(method, src_w, dst_w), taps_for(method, src_h, dst_h));
  return std::vector<float>(out.begin(), out.end());
}

Canvas resize_image(const Canvas& image, int width, int height) {
  check_size("resize_image: size", width, height);
  const auto axis_taps = [](int src, int dst) {
    return dst < src ? area_taps(src, dst) : linear_taps(src, dst);
  };
  const Taps along_x = axis_taps(image.width(), width);
  const Taps along_y = axis_taps(image.height(), height);
  const std::vector<uint8_t>& pixels = image.pixels();                   // (h, w, 3)
  std::vector<uint8_t> result(static_cast<size_t>(width) * height * 3);  // (height, width, 3)
  std::vector<double> plane(static_cast<size_t>(image.width()) * image.height());
  for (int channel = 0; channel < 3; ++channel) {
    for (size_t i = 0; i < plane.size(); ++i) plane[i] = pixels[i * 3 + channel];
    const std::vector<double> out =
        resample(plane, image.width(), image.height(), along_x, along_y);
    for (size_t i = 0; i < out.size(); ++i) {
      result[i * 3 + channel] = static_cast<uint8_t>(std::lround(std::clamp(out[i], 0.0, 255.0)));
    }
  }
  Canvas canvas(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t i = (static_cast<size_t>(y) * width + x) * 3;
      canvas.set(x, y, {result[i], result[i + 1], result[i + 2]});
    }
  }
  return canvas;
}

Canvas scale_nearest(const Canvas& image, int factor) {
  if (factor < 1) fail("scale_nearest: factor ", factor, " must be at least 1");
  const int64_t width = int64_t{image.width()} * factor, height = int64_t{image.height()} * factor;
  if (width > INT_MAX || height > INT_MAX || width * height > Canvas::kMaxPixels) {
    fail("scale_nearest: ", image.width(), " x ", image.height(), " scaled by ", factor,
         " is over the limit of ", Canvas::kMaxPixels, " pixels");
  }
  Canvas out(static_cast<int>(width), static_cast<int>(height));
  for (int y = 0; y < image.height(); ++y) {
    for (int x = 0; x < image.width(); ++x) {
      out.fill_rect(x * factor, y * factor, factor, factor, image.at(x, y));
    }
  }
  return out;
}

}  // namespace sav::image
