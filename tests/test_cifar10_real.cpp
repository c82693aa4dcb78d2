// The real data set, when `make data` has put it in data/cifar-10-batches-bin.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>

#include "sav/data/cifar10.h"
#include "sav/data/loader.h"

namespace sav::testing {
namespace {

const std::string kDataDir = std::string(SAV_SOURCE_DIR) + "/data/cifar-10-batches-bin";

std::array<int64_t, 10> class_counts(const data::RecordSet& set) {
  data::LoaderOptions options;
  options.batch_size = 1000;
  options.shuffle = false;
  data::BatchLoader loader(set, options);
  loader.start_epoch(0);
  std::array<int64_t, 10> counts{};
  data::Batch batch;
  while (loader.next(batch)) {
    for (int32_t label : batch.labels) ++counts.at(label);
  }
  return counts;
}

TEST(RealCifar10, AllSixtyThousandRecordsWithBalancedClasses) {
  if (!std::filesystem::exists(kDataDir + "/test_batch.bin")) {
    GTEST_SKIP() << kDataDir << " is absent: run 'make data' to test on the real data set";
  }
  const data::Cifar10 cifar = data::open_cifar10(kDataDir);
  ASSERT_EQ(cifar.train.size(), 50000);
  ASSERT_EQ(cifar.test.size(), 10000);
  EXPECT_EQ(cifar.class_names, data::standard_class_names());
  std::array<int64_t, 10> train_expected, test_expected;
  train_expected.fill(5000);
  test_expected.fill(1000);
  EXPECT_EQ(class_counts(cifar.train), train_expected);
  EXPECT_EQ(class_counts(cifar.test), test_expected);

  // data_batch_1 record 0 is a frog (6) whose first pixels are 59, 43, 50 (red plane).
  uint8_t pixels[data::kPixelBytes];
  EXPECT_EQ(cifar.train.read(0, pixels), 6);
  EXPECT_EQ(pixels[0], 59);
  EXPECT_EQ(pixels[1], 43);
  EXPECT_EQ(pixels[2], 50);
  EXPECT_EQ(cifar.test.read(0, pixels), 3);  // test_batch record 0: a cat
}

}  // namespace
}  // namespace sav::testing
