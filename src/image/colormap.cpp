#include "sav/image/colormap.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "sav/error.h"

namespace sav::image {
namespace {

// A colour of a map at position t; channels in [0, 1].
struct Anchor {
  double t, r, g, b;
};

// 17 of the 33 rows of matplotlib's coolwarm table (Moreland's CoolWarmFloat33), chosen where the
// curve bends so that interpolating between them stays within 1.4 units (of 255) of the full table.
constexpr Anchor kCoolwarm[] = {
    {0 / 32.0, 0.229806, 0.298718, 0.753683},  {3 / 32.0, 0.342804, 0.458758, 0.883726},
    {5 / 32.0, 0.424370, 0.558148, 0.945620},  {7 / 32.0, 0.509635, 0.648281, 0.984788},
    {9 / 32.0, 0.596262, 0.726149, 0.999836},  {11 / 32.0, 0.681291, 0.788965, 0.990363},
    {13 / 32.0, 0.761465, 0.834303, 0.956945}, {16 / 32.0, 0.865395, 0.865410, 0.865396},
    {17 / 32.0, 0.897787, 0.848937, 0.820881}, {19 / 32.0, 0.944469, 0.800927, 0.726736},
    {21 / 32.0, 0.967328, 0.734133, 0.628752}, {23 / 32.0, 0.966811, 0.650421, 0.530264},
    {25 / 32.0, 0.943661, 0.551751, 0.434244}, {28 / 32.0, 0.869187, 0.378313, 0.300267},
    {30 / 32.0, 0.795632, 0.241284, 0.220526}, {31 / 32.0, 0.752535, 0.157246, 0.184115},
    {32 / 32.0, 0.705673, 0.015556, 0.150233},
};

constexpr Anchor kJet[] = {
    {0.0, 0.0, 0.0, 0.5},
    {0.11, 0.0, 0.0, 1.0},
    {0.125, 0.0, 0.0, 1.0},
    {0.34, 0.0, 0.215 / 0.25, 1.0},
    {0.35, 0.0, 0.225 / 0.25, 1.0 - 0.01 / 0.31},
    {0.375, 0.025 / 0.31, 1.0, 1.0 - 0.035 / 0.31},
    {0.64, 0.29 / 0.31, 1.0, 0.01 / 0.31},
    {0.65, 0.30 / 0.31, 1.0 - 0.01 / 0.27, 0.0},
    {0.66, 1.0, 1.0 - 0.02 / 0.27, 0.0},
    {0.89, 1.0, 0.02 / 0.27, 0.0},
    {0.91, 1.0 - 0.5 * 0.02 / 0.11, 0.0, 0.0},
    {1.0, 0.5, 0.0, 0.0},
};

// 17 of the 256 rows of matplotlib's viridis and inferno tables, row i at t = i / 255, chosen
// (by a minimax search) where the curves bend: interpolating between them stays within 0.9
// (viridis) and 1.5 (inferno) units of 255 of the full tables.
constexpr Anchor kViridis[] = {
    {0 / 255.0, 0.267004, 0.004874, 0.329415},   {18 / 255.0, 0.282910, 0.105393, 0.426902},
    {34 / 255.0, 0.277134, 0.185228, 0.489898},  {51 / 255.0, 0.253935, 0.265254, 0.529983},
    {74 / 255.0, 0.210503, 0.363727, 0.552206},  {114 / 255.0, 0.146180, 0.515413, 0.556823},
    {138 / 255.0, 0.119738, 0.603785, 0.541400}, {150 / 255.0, 0.128087, 0.647749, 0.523491},
    {160 / 255.0, 0.157851, 0.683765, 0.501686}, {172 / 255.0, 0.220124, 0.725509, 0.466226},
    {186 / 255.0, 0.319809, 0.770914, 0.411152}, {203 / 255.0, 0.468053, 0.818921, 0.323998},
    {226 / 255.0, 0.699415, 0.867117, 0.175971}, {237 / 255.0, 0.814576, 0.883393, 0.110347},
    {243 / 255.0, 0.876168, 0.891125, 0.095250}, {248 / 255.0, 0.926106, 0.897330, 0.104071},
    {255 / 255.0, 0.993248, 0.906157, 0.143936},
};

constexpr Anchor kInferno[] = {
    {0 / 255.0, 0.001462, 0.000466, 0.013866},   {10 / 255.0, 0.019373, 0.015133, 0.088767},
    {28 / 255.0, 0.104551, 0.047008, 0.253430},  {41 / 255.0, 0.190367, 0.039309, 0.361447},
    {52 / 255.0, 0.264810, 0.039647, 0.409345},  {70 / 255.0, 0.379001, 0.076253, 0.432719},
    {95 / 255.0, 0.534683, 0.132534, 0.416667},  {120 / 255.0, 0.688653, 0.192239, 0.357603},
    {146 / 255.0, 0.832299, 0.283913, 0.257383}, {170 / 255.0, 0.929644, 0.411479, 0.145367},
    {193 / 255.0, 0.979666, 0.565057, 0.031409}, {200 / 255.0, 0.985952, 0.615750, 0.025592},
    {208 / 255.0, 0.987874, 0.675267, 0.065257}, {223 / 255.0, 0.976108, 0.789974, 0.196018},
    {235 / 255.0, 0.954997, 0.881569, 0.337475}, {246 / 255.0, 0.949545, 0.955063, 0.507860},
    {255 / 255.0, 0.988362, 0.998364, 0.644924},
};

constexpr Anchor kGray[] = {{0.0, 0.0, 0.0, 0.0}, {1.0, 1.0, 1.0, 1.0}};

struct Table {
  const Anchor* begin;
  const Anchor* end;
};

Table table_of(Colormap colormap) {
  switch (colormap) {
    case Colormap::kCoolwarm: return {std::begin(kCoolwarm), std::end(kCoolwarm)};
    case Colormap::kJet: return {std::begin(kJet), std::end(kJet)};
    case Colormap::kViridis: return {std::begin(kViridis), std::end(kViridis)};
    case Colormap::kInferno: return {std::begin(kInferno), std::end(kInferno)};
    case Colormap::kGray: return {std::begin(kGray), std::end(kGray)};
  }
  fail("map_color: unknown colormap value ", static_cast<int>(colormap));
}

constexpr Colormap kAll[] = {Colormap::kCoolwarm, Colormap::kJet, Colormap::kViridis,
                             Colormap::kInferno, Colormap::kGray};

uint8_t to_byte(double unit) {
  return static_cast<uint8_t>(std::lround(std::clamp(unit, 0.0, 1.0) * 255.0));
}

uint8_t blend(uint8_t under, uint8_t over, double alpha) {
  return static_cast<uint8_t>(std::lround((1.0 - alpha) * under + alpha * over));
}

}  // namespace

Colormap parse_colormap(const std::string& name) {
  for (const Colormap colormap : kAll) {
    if (name == colormap_name(colormap)) return colormap;
  }
  usage_fail("unknown colormap '", name, "' (choose one of: ", colormap_choices(), ")");
}

std::string colormap_name(Colormap colormap) {
  switch (colormap) {
    case Colormap::kCoolwarm: return "coolwarm";
    case Colormap::kJet: return "jet";
    case Colormap::kViridis: return "viridis";
    case Colormap::kInferno: return "inferno";
    case Colormap::kGray: return "gray";
  }
  fail("colormap_name: unknown colormap value ", static_cast<int>(colormap));
}

std::string colormap_choices() {
  std::string names;
  for (const Colormap colormap : kAll) {
    names += (names.empty() ? "" : ", ") + colormap_name(colormap);
  }
  return names;
}

Rgb map_color(Colormap colormap, double t) {
  const Table table = table_of(colormap);
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  // The first anchor at or past t ends the segment t lies in (the last anchor is at t = 1).
  const Anchor* hi = table.begin + 1;
  while (hi + 1 != table.end && hi->t < t) ++hi;
  const Anchor* lo = hi - 1;
  const double w = (t - lo->t) / (hi->t - lo->t);
  return {to_byte(lo->r + w * (hi->r - lo->r)), to_byte(lo->g + w * (hi->g - lo->g)),
          to_byte(lo->b + w * (hi->b - lo->b))};
}

Canvas overlay(const Canvas& image, const std::vector<float>& heat, Colormap colormap,
               double alpha) {
  const size_t pixels = static_cast<size_t>(image.width()) * image.height();
  if (heat.size() != pixels) {
    fail("overlay: the heat map has ", heat.size(), " values but the image is ", image.width(),
         " x ", image.height(), " = ", pixels, " pixels (resize the map to the image first)");
  }
  if (!(alpha >= 0.0 && alpha <= 1.0)) fail("overlay: alpha ", alpha, " must be in [0, 1]");
  Canvas out(image.width(), image.height());
  for (int y = 0; y < image.height(); ++y) {
    for (int x = 0; x < image.width(); ++x) {
      const Rgb under = image.at(x, y);
      const Rgb over = map_color(colormap, heat[static_cast<size_t>(y) * image.width() + x]);
      out.set(x, y,
              {blend(under.r, over.r, alpha), blend(under.g, over.g, alpha),
               blend(under.b, over.b, alpha)});
    }
  }
  return out;
}

}  // namespace sav::image
