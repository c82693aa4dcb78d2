// Tensor, Shape and Device: construction, copies to and from the host, and the errors.
#include <gtest/gtest.h>
#include <omp.h>

#include "backends/backend.h"
#include "ops/checks.h"
#include "sav/error.h"
#include "sav/ops.h"
#include "sav/tensor.h"

namespace sav::testing {
namespace {

TEST(Shape, RankNumelAndText) {
  const Shape s{2, 65, 256};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 2 * 65 * 256);
  EXPECT_EQ(s.rows(), 130);
  EXPECT_EQ(s.last(), 256);
  EXPECT_EQ(s[-1], 256);
  EXPECT_EQ(s.str(), "[2, 65, 256]");
  EXPECT_EQ(s.with_last(10), Shape({2, 65, 10}));
  EXPECT_THROW(s[3], Error);
}

TEST(Shape, RejectsMoreThanFourDimsAndNonPositiveSizes) {
  EXPECT_THROW(Shape({1, 2, 3, 4, 5}), Error);
  try {
    Shape({2, 0, 3});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "shape: every dimension must be positive, got [2, 0, 3]");
  }
}

TEST(Tensor, RoundTripsThroughTheHost) {
  const std::vector<float> values{1, 2, 3, 4, 5, 6};
  const Tensor t = Tensor::from_vector({2, 3}, values);
  EXPECT_EQ(t.to_vector(), values);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_EQ(Tensor::full({3}, 2.5f).to_vector(), (std::vector<float>{2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(Tensor::zeros({2}).to_vector(), (std::vector<float>{0, 0}));
  EXPECT_FLOAT_EQ(Tensor::full({1, 1}, 7.0f).item(), 7.0f);
  EXPECT_THROW(t.item(), Error);
  EXPECT_THROW(Tensor::from_vector({4}, values), Error);
}

TEST(Tensor, StorageIsAlignedAndSharedByHandles) {
  const Tensor t = Tensor::zeros({3, 5});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  Tensor copy = t;  // a handle: same values
  copy.data()[0] = 9.0f;
  EXPECT_EQ(t.to_vector()[0], 9.0f);
  const Tensor moved = t.to(Device::cpu());  // a copy of the values
  copy.data()[0] = 1.0f;
  EXPECT_EQ(moved.to_vector()[0], 9.0f);
}

TEST(Tensor, UndefinedTensorSaysSo) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), Error);
  EXPECT_THROW(t.data(), Error);
}

TEST(Device, ParsesNamesAndRefusesUnavailableOnes) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device::cuda(0).str(), "cuda:0");
  EXPECT_THROW(parse_device("gpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  const Device picked = parse_device("auto");
  EXPECT_TRUE(device_available(picked));
  if (!device_available(Device::cuda())) {
    EXPECT_EQ(picked, Device::cpu());
    try {
      Tensor::zeros({2}, Device::cuda());
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cuda:0 is not available"), std::string::npos)
          << e.what();
    }
  }
}

// Every op checks its inputs' devices with this one function.
TEST(Device, OpsRefuseInputsOnDifferentDevices) {
  try {
    ops::detail::require_one_device("add", {{"a", Device::cpu()}, {"b", Device::cuda(0)}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "add: a is on cpu but b is on cuda:0 (move them to one device)");
  }
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({2, 3}), none;
  EXPECT_EQ(ops::detail::same_device("add", {{"a", &a}, {"b", &b}, {"bias", &none}}),
            Device::cpu());
  if (device_available(Device::cuda())) {
    const Tensor g = Tensor::zeros({2, 3}, Device::cuda());
    EXPECT_THROW(ops::add(a, g), Error);
  }
}

TEST(Backend, CpuThreadCountIsSettable) {
  Backend& cpu = backend_for(Device::cpu());
  const int start = cpu.num_threads();  // OMP_NUM_THREADS where set, else every core
  EXPECT_GE(start, 1);
  cpu.set_num_threads(1);
  EXPECT_EQ(cpu.num_threads(), 1);
  cpu.set_num_threads(0);
  EXPECT_EQ(cpu.num_threads(), omp_get_num_procs());
  EXPECT_THROW(cpu.set_num_threads(-2), Error);
  cpu.set_num_threads(start);
  EXPECT_NE(cpu.describe().find("cpu"), std::string::npos);
}

}  // namespace
}  // namespace sav::testing
