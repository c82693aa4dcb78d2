// The communicator (sav/dist/communicator.h), run as one process by ctest and, where sav is built
// with MPI, again as 2 ranks under mpirun: every collective on each rank's own values.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "sav/dist/communicator.h"
#include "sav/error.h"

namespace sav::testing {
namespace {

TEST(Communicator, RanksNumberTheProcessesOfTheJob) {
  dist::Communicator& world = dist::world();
  EXPECT_GE(world.size(), 1);
  EXPECT_GE(world.rank(), 0);
  EXPECT_LT(world.rank(), world.size());
  EXPECT_EQ(world.is_root(), world.rank() == 0);
  EXPECT_FALSE(world.describe().empty());
  // The suite's ranks all run on this machine: local ranks are the ranks.
  EXPECT_EQ(world.local_rank(), world.rank());
  EXPECT_EQ(world.local_size(), world.size());
}

// Rank r contributes r + 1 + i at position i: the sums are exact in float at these sizes. The
// buffer is long enough to need several messages in any MPI.
TEST(Communicator, AllReduceSumsEveryPositionOverTheRanks) {
  dist::Communicator& world = dist::world();
  const int n = world.size(), r = world.rank();
  std::vector<float> values(1 << 20);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(r + 1) + float(i % 1000);
  world.all_reduce_sum(values.data(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(values[i], float(n * (n + 1) / 2) + float(n) * float(i % 1000)) << i;
  }
  std::vector<int64_t> counts{r, 1, int64_t{1} << 40};
  world.all_reduce_sum(counts.data(), counts.size());
  EXPECT_EQ(counts[0], int64_t{n} * (n - 1) / 2);
  EXPECT_EQ(counts[1], n);
  EXPECT_EQ(counts[2], int64_t{n} << 40);
}

TEST(Communicator, BroadcastCopiesTheRootsBytes) {
  dist::Communicator& world = dist::world();
  for (int root : {0, world.size() - 1}) {
    std::vector<uint8_t> bytes(1000, static_cast<uint8_t>(world.rank()));
    world.broadcast(bytes.data(), bytes.size(), root);
    for (uint8_t b : bytes) ASSERT_EQ(b, root);
  }
}

// Rank r sends r + 1 bytes of value r: the root gets them in rank order, with their lengths.
TEST(Communicator, GatherConcatenatesInRankOrderAtTheRoot) {
  dist::Communicator& world = dist::world();
  const int r = world.rank();
  const std::vector<uint8_t> mine(static_cast<size_t>(r + 1), static_cast<uint8_t>(r));
  std::vector<size_t> sizes;
  const std::vector<uint8_t> all = world.gather(mine.data(), mine.size(), 0, &sizes);
  world.barrier();
  if (!world.is_root()) {
    EXPECT_TRUE(all.empty());
    return;
  }
  std::vector<uint8_t> expected;
  for (int k = 0; k < world.size(); ++k) expected.insert(expected.end(), k + 1, uint8_t(k));
  EXPECT_EQ(all, expected);
  ASSERT_EQ(sizes.size(), static_cast<size_t>(world.size()));
  for (int k = 0; k < world.size(); ++k) EXPECT_EQ(sizes[k], static_cast<size_t>(k + 1));
}

// A root that is not a rank is refused on every rank, before any rank enters the collective.
TEST(Communicator, ARootThatIsNoRankIsRefused) {
  dist::Communicator& world = dist::world();
  uint8_t byte = 0;
  EXPECT_THROW(world.broadcast(&byte, 1, world.size()), Error);
  EXPECT_THROW(world.gather(&byte, 1, -1), Error);
}

TEST(Communicator, OneProcessIsRankZeroOfOne) {
  const std::unique_ptr<dist::Communicator> one = dist::single_process();
  EXPECT_EQ(one->rank(), 0);
  EXPECT_EQ(one->size(), 1);
  std::vector<float> values{1.5f, -2.0f};
  one->all_reduce_sum(values.data(), values.size());
  EXPECT_EQ(values, (std::vector<float>{1.5f, -2.0f}));
  const uint8_t bytes[3] = {1, 2, 3};
  std::vector<size_t> sizes;
  EXPECT_EQ(one->gather(bytes, 3, 0, &sizes), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(sizes, std::vector<size_t>{3});
  EXPECT_THROW(one->broadcast(values.data(), 4, 1), Error);
  EXPECT_EQ(one->describe(), "1 process");
}

}  // namespace
}  // namespace sav::testing
