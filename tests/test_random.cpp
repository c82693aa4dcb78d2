// The counter-based generator behind dropout.
#include <gtest/gtest.h>

#include <algorithm>

#include "sav/random.h"

namespace sav::testing {
namespace {

// Known-answer vectors of Philox4x32-10 published with the Random123 library (Salmon et al.).
TEST(Philox, KnownAnswers) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxBlock{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(
      philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
      (PhiloxBlock{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(
      philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
      (PhiloxBlock{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, UniformsCoverTheUnitInterval) {
  double sum = 0;
  float low = 1, high = 0;
  const int blocks = 25000;
  for (int i = 0; i < blocks; ++i) {
    for (uint32_t bits : random_block(42, 1, i)) {
      const float u = uniform_from_bits(bits);
      ASSERT_GE(u, 0.0f);
      ASSERT_LT(u, 1.0f);
      low = std::min(low, u);
      high = std::max(high, u);
      sum += u;
    }
  }
  EXPECT_NEAR(sum / (4.0 * blocks), 0.5, 0.005);  // standard error ~0.0014
  EXPECT_LT(low, 0.001f);
  EXPECT_GT(high, 0.999f);
  EXPECT_EQ(uniform_from_bits(0xffffffffu), 1.0f - 0x1.0p-24f);
}

}  // namespace
}  // namespace sav::testing
