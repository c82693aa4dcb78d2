// The NCCL communicator: the job's collectives on GPU memory, queued on the CUDA backend's stream
// of this rank's device. Built into a module of its own (libsav_nccl.so), the one part of sav
// linked to NCCL; src/dist/device_communicator.cpp loads it when a program asks for it.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "dist/agree.h"
#include "sav/dist/communicator.h"
#include "sav/error.h"

namespace sav::dist {
namespace {

// Throws sav::Error naming the failed call, the file, the line and the library's message.
void nccl_check(ncclResult_t status, const char* call, const char* file, int line) {
  if (status == ncclSuccess) return;
  fail(call, " failed at ", file, ":", line, ": ", ncclGetErrorString(status), ": ",
       ncclGetLastError(nullptr), " (NCCL_DEBUG=WARN in the environment makes NCCL say more)");
}
void cuda_check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  fail(call, " failed at ", file, ":", line, ": ", cudaGetErrorName(status), ": ",
       cudaGetErrorString(status));
}
#define SAV_NCCL_CHECK(call) nccl_check((call), #call, __FILE__, __LINE__)
#define SAV_CUDA_CHECK(call) cuda_check((call), #call, __FILE__, __LINE__)

// "2.28.9": NCCL's version codes are major * 1000 + minor * 100 + patch up to 2.8, and
// major * 10000 + minor * 100 + patch from 2.9 on.
std::string nccl_version() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "version unknown";
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code % 10000 / 100 : code % 1000 / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

// Device memory of this communicator's own, freed on its stream.
struct DeviceBuffer {
  DeviceBuffer(size_t bytes, cudaStream_t stream) : stream(stream) {
    SAV_CUDA_CHECK(cudaMallocAsync(&data, bytes == 0 ? 1 : bytes, stream));
  }
  ~DeviceBuffer() { cudaFreeAsync(data, stream); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data = nullptr;
  cudaStream_t stream;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& host, int device_index, cudaStream_t stream)
      : host_(host),
        rank_(host.rank()),
        size_(host.size()),
        device_index_(device_index),
        stream_(stream) {
    // What each rank does alone: its device, its scratch memory and, on rank 0, the unique id.
    // Then the ranks agree that every one of them got through before any waits in NCCL's set-up.
    ncclUniqueId id{};
    std::string problem;
    try {
      SAV_CUDA_CHECK(cudaSetDevice(device_index_));
      SAV_CUDA_CHECK(cudaMalloc(&lengths_, sizeof(uint64_t) * static_cast<size_t>(size_)));
      if (rank_ == 0) SAV_NCCL_CHECK(ncclGetUniqueId(&id));
    } catch (const Error& e) {
      problem = e.what();
    }
    try {
      agree_every_rank_is_ready(host_, problem);
      host_.broadcast(&id, sizeof id, 0);
      SAV_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
    } catch (...) {
      cudaFree(lengths_);
      throw;
    }
  }

  ~NcclCommunicator() override {
    ncclCommFinalize(comm_);  // waits for the operations still queued
    ncclCommDestroy(comm_);
    cudaFree(lengths_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return host_.local_rank(); }
  int local_size() const override { return host_.local_size(); }
  bool device_buffers() const override { return true; }

  void all_reduce_sum(float* values, size_t count) override {
    if (count == 0) return;
    SAV_NCCL_CHECK(ncclAllReduce(values, values, count, ncclFloat32, ncclSum, comm_, stream_));
  }
  void all_reduce_sum(int64_t* values, size_t count) override {
    if (count == 0) return;
    SAV_NCCL_CHECK(ncclAllReduce(values, values, count, ncclInt64, ncclSum, comm_, stream_));
  }

  void broadcast(void* data, size_t bytes, int root) override {
    check_root(root);
    if (bytes == 0) return;
    SAV_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
  }

  // Every rank learns every rank's length first, so that the root and the senders agree on the
  // messages there are (none for an empty piece). The pieces go to a buffer on the root's
  // device, then to the host.
  std::vector<uint8_t> gather(const void* data, size_t bytes, int root,
                              std::vector<size_t>* sizes) override {
    check_root(root);
    const uint64_t mine = bytes;
    SAV_CUDA_CHECK(
        cudaMemcpyAsync(lengths_ + rank_, &mine, sizeof mine, cudaMemcpyHostToDevice, stream_));
    SAV_NCCL_CHECK(ncclAllGather(lengths_ + rank_, lengths_, 1, ncclUint64, comm_, stream_));
    std::vector<uint64_t> lengths(static_cast<size_t>(size_));
    SAV_CUDA_CHECK(cudaMemcpyAsync(lengths.data(), lengths_, sizeof(uint64_t) * lengths.size(),
                                   cudaMemcpyDeviceToHost, stream_));
    wait();

    if (rank_ != root) {
      if (bytes > 0) SAV_NCCL_CHECK(ncclSend(data, bytes, ncclUint8, root, comm_, stream_));
      wait();
      return {};
    }
    std::vector<size_t> offsets(lengths.size());
    size_t total = 0;
    for (size_t r = 0; r < lengths.size(); ++r) {
      offsets[r] = total;
      total += lengths[r];
    }
    DeviceBuffer all(total, stream_);
    auto* at = static_cast<uint8_t*>(all.data);
    SAV_CUDA_CHECK(
        cudaMemcpyAsync(at + offsets[root], data, bytes, cudaMemcpyDeviceToDevice, stream_));
    SAV_NCCL_CHECK(ncclGroupStart());
    for (int r = 0; r < size_; ++r) {
      if (r == root || lengths[r] == 0) continue;
      SAV_NCCL_CHECK(ncclRecv(at + offsets[r], lengths[r], ncclUint8, r, comm_, stream_));
    }
    SAV_NCCL_CHECK(ncclGroupEnd());
    std::vector<uint8_t> out(total);
    SAV_CUDA_CHECK(cudaMemcpyAsync(out.data(), at, total, cudaMemcpyDeviceToHost, stream_));
    wait();
    if (sizes != nullptr) sizes->assign(lengths.begin(), lengths.end());
    return out;
  }

  // A one-value all-reduce, waited for: no rank's device gets past it before every rank's
  // device has reached it.
  void barrier() override {
    SAV_NCCL_CHECK(ncclAllReduce(lengths_, lengths_, 1, ncclUint64, ncclSum, comm_, stream_));
    wait();
  }

  [[noreturn]] void abort(int status) override {
    ncclCommAbort(comm_);  // no rank's GPU waits on this one's any more
    host_.abort(status);
    std::_Exit(status);  // host_.abort does not return; this is for the compiler
  }

  std::string describe() const override {
    return "NCCL " + nccl_version() + ": " + std::to_string(size_) +
           (size_ == 1 ? " rank" : " ranks") +
           ", this one on cuda:" + std::to_string(device_index_);
  }

 private:
  void check_root(int root) const {
    if (root < 0 || root >= size_) {
      fail("communicator: root ", root, " does not exist (", size_, " ranks: 0 to ", size_ - 1,
           ")");
    }
  }

  // Waits for the stream, then reports an error NCCL met on the way (a peer that failed).
  void wait() {
    SAV_CUDA_CHECK(cudaStreamSynchronize(stream_));
    ncclResult_t failure = ncclSuccess;
    SAV_NCCL_CHECK(ncclCommGetAsyncError(comm_, &failure));
    if (failure != ncclSuccess) {
      fail("NCCL on cuda:", device_index_, " (rank ", rank_, " of ", size_,
           "): a collective failed: ", ncclGetErrorString(failure), ": ", ncclGetLastError(comm_));
    }
  }

  Communicator& host_;
  const int rank_, size_, device_index_;
  cudaStream_t stream_;
  ncclComm_t comm_ = nullptr;
  uint64_t* lengths_ = nullptr;  // (size) one value a rank: gather's lengths, barrier's sum
};

}  // namespace
}  // namespace sav::dist

// The module's entry point: src/dist/device_communicator.cpp loads this module and finds it by
// name.
extern "C" __attribute__((visibility("default"))) sav::dist::Communicator*
sav_nccl_create_communicator(sav::dist::Communicator* host, int index, void* stream) {
  return new sav::dist::NcclCommunicator(*host, index, static_cast<cudaStream_t>(stream));
}
