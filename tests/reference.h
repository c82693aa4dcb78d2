// Small helpers for tests: seeded random vectors and element-wise comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace sav::testing {

inline std::vector<float> random_values(size_t n, uint32_t seed, float low = -1.0f,
                                        float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(n);
  for (float& v : values) v = uniform(rng);
  return values;
}

// Every element within tolerance * max(1, |expected|).
inline void expect_close(const std::vector<float>& actual, const std::vector<double>& expected,
                         double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance * std::max(1.0, std::fabs(expected[i])))
        << "at element " << i;
  }
}

}  // namespace sav::testing
