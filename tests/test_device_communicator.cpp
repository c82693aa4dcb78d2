// The device communicator (sav/dist/device_communicator.h): everywhere, that asking for one where
// it cannot be had is a clear sav::Error; on a GPU (the CudaNccl tests, skipped elsewhere), that
// NCCL's communicator of one rank does every collective on device memory.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "sav/dist/communicator.h"
#include "sav/dist/device_communicator.h"
#include "sav/error.h"
#include "sav/tensor.h"

namespace sav::testing {
namespace {

// The message of the sav::Error that `make` throws, or "" where it throws none.
template <typename Make>
std::string error_of(Make&& make) {
  try {
    make();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(DeviceCommunicator, HostCommunicatorsTakeHostMemory) {
  EXPECT_FALSE(dist::single_process()->device_buffers());
  EXPECT_FALSE(dist::world().device_buffers());
}

TEST(DeviceCommunicator, ACpuDeviceIsRefusedWithWhatToDo) {
  const std::unique_ptr<dist::Communicator> host = dist::single_process();
  const std::string message = error_of([&] { dist::device_communicator(*host, Device::cpu()); });
  EXPECT_TRUE(contains(message, "device communicator: cpu is not a CUDA device")) << message;
  EXPECT_TRUE(contains(message, "pass cuda:<local rank>")) << message;
}

// Without a GPU, or in a build without NCCL, the error names what is missing.
TEST(DeviceCommunicator, WithoutAGpuOrNcclItIsAClearError) {
  if (dist::built_with_nccl() && device_available(Device::cuda())) {
    GTEST_SKIP() << "NCCL and a CUDA device are both here";
  }
  const std::unique_ptr<dist::Communicator> host = dist::single_process();
  const std::string message = error_of([&] { dist::device_communicator(*host, Device::cuda()); });
  ASSERT_FALSE(message.empty()) << "no error";
  if (!dist::built_with_nccl()) {
    EXPECT_TRUE(contains(message, "this build of sav has no NCCL communicator")) << message;
  } else {
    EXPECT_TRUE(contains(message, "cuda:0 is not available")) << message;
  }
}

// The module loads wherever NCCL and the CUDA runtime are installed, GPU or not.
TEST(DeviceCommunicator, NcclModuleLoadsWithItsEntryPoint) {
#ifndef SAV_NCCL_MODULE
  GTEST_SKIP() << "this build has no NCCL communicator";
#else
  void* module = dlopen(SAV_NCCL_MODULE, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(module, nullptr) << dlerror();
  EXPECT_NE(dlsym(module, "sav_nccl_create_communicator"), nullptr);
#endif
}

// `bytes` of device memory from the CUDA backend.
class DeviceBytes {
 public:
  explicit DeviceBytes(size_t bytes)
      : backend_(backend_for(Device::cuda())), bytes_(bytes), data_(backend_.allocate(bytes)) {}
  ~DeviceBytes() { backend_.deallocate(data_, bytes_); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;

  void* data() const { return data_; }
  void upload(const void* host) { backend_.upload(data_, host, bytes_); }
  void download(void* host) { backend_.download(host, data_, bytes_); }

 private:
  Backend& backend_;
  size_t bytes_;
  void* data_;
};

// NCCL needs a real GPU: not the emulator's CUDA backend, which the suite runs the Cuda tests on
// (SAV_CUDA_MODULE_PATH).
bool nccl_testable(std::string* why) {
  if (!dist::built_with_nccl()) *why = "this build has no NCCL communicator";
  if (!device_available(Device::cuda())) *why = "no usable CUDA device";
  if (std::getenv("SAV_CUDA_MODULE_PATH") != nullptr) *why = "the CUDA backend is not the GPU's";
  return why->empty();
}

// One rank: each collective leaves its values as they were, and the gather hands them back.
TEST(CudaNccl, OneRankCommunicatorWorksOnDeviceMemory) {
  std::string why;
  if (!nccl_testable(&why)) GTEST_SKIP() << why;
  const std::unique_ptr<dist::Communicator> host = dist::single_process();
  const std::unique_ptr<dist::Communicator> nccl = dist::device_communicator(*host, Device::cuda());
  EXPECT_TRUE(nccl->device_buffers());
  EXPECT_EQ(nccl->rank(), 0);
  EXPECT_EQ(nccl->size(), 1);
  EXPECT_EQ(nccl->local_rank(), 0);
  EXPECT_TRUE(contains(nccl->describe(), "NCCL")) << nccl->describe();

  std::vector<float> values(1 << 20);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * float(i % 1000) - 7.0f;
  const Tensor floats =
      Tensor::from_vector({static_cast<int64_t>(values.size())}, values, Device::cuda());
  nccl->all_reduce_sum(floats.data(), values.size());
  EXPECT_EQ(floats.to_vector(), values);

  const std::vector<int64_t> counts{-3, 1, int64_t{1} << 40};
  DeviceBytes device_counts(sizeof(int64_t) * counts.size());
  device_counts.upload(counts.data());
  nccl->all_reduce_sum(static_cast<int64_t*>(device_counts.data()), counts.size());
  std::vector<int64_t> summed(counts.size());
  device_counts.download(summed.data());
  EXPECT_EQ(summed, counts);

  std::vector<uint8_t> bytes(1001);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  DeviceBytes device_bytes(bytes.size());
  device_bytes.upload(bytes.data());
  nccl->broadcast(device_bytes.data(), bytes.size(), 0);
  std::vector<uint8_t> broadcast(bytes.size());
  device_bytes.download(broadcast.data());
  EXPECT_EQ(broadcast, bytes);
  EXPECT_THROW(nccl->broadcast(device_bytes.data(), bytes.size(), 1), Error);

  std::vector<size_t> sizes;
  EXPECT_EQ(nccl->gather(device_bytes.data(), bytes.size(), 0, &sizes), bytes);
  EXPECT_EQ(sizes, std::vector<size_t>{bytes.size()});
  EXPECT_TRUE(nccl->gather(device_bytes.data(), 0, 0, &sizes).empty());
  EXPECT_EQ(sizes, std::vector<size_t>{0});
  EXPECT_THROW(nccl->gather(device_bytes.data(), 1, -1), Error);

  nccl->barrier();
}

}  // namespace
}  // namespace sav::testing
