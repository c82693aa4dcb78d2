#include "sav/upload.h"

#include <cstring>

#include "backends/backend.h"
#include "sav/error.h"

namespace sav {

// A slot: its page-locked host memory and device tensors, each sized for the largest part seen,
// and the events that order their reuse.
struct AsyncUploads::Slot {
  Backend& backend;
  std::vector<Tensor> device;  // capacity-sized; upload() hands out prefixes
  float* host = nullptr;       // the parts one after another
  size_t host_floats = 0;
  void* copied;       // on the copy queue, after this slot's copies: its host memory is free again
  void* read;         // on the compute queue, after the work that reads its tensors
  bool used = false;  // an upload went through this slot
  bool released = false;  // release() marked the end of the work that reads it

  explicit Slot(Backend& b) : backend(b), copied(b.create_event()), read(b.create_event()) {}
  ~Slot() {
    backend.deallocate_host(host);
    backend.destroy_event(copied);
    backend.destroy_event(read);
  }
};

AsyncUploads::AsyncUploads(Device device, int parts) : device_(device), parts_(parts) {
  if (parts < 1) fail("uploads: ", parts, " parts");
  Tensor probe = Tensor::empty({1}, device);  // the device's backend, or its error
  for (int i = 0; i < 2; ++i) slots_.push_back(std::make_unique<Slot>(probe.backend()));
}

AsyncUploads::~AsyncUploads() {
  // Queued copies may still read the host memory the slots free.
  for (const auto& slot : slots_) {
    if (slot->used) slot->backend.wait_event(slot->copied);
  }
}

std::vector<Tensor> AsyncUploads::upload(const std::vector<HostValues>& parts) {
  if (static_cast<int>(parts.size()) != parts_) {
    fail("uploads: ", parts.size(), " parts given, ", parts_, " expected");
  }
  Slot& slot = *slots_[next_];
  next_ = (next_ + 1) % slots_.size();
  Backend& backend = slot.backend;
  // Its host memory is about to be rewritten: wait for its last copy, which is long done unless
  // the device has fallen two uploads behind.
  if (slot.used && !backend.event_passed(slot.copied)) backend.wait_event(slot.copied);
  size_t floats = 0;
  for (const HostValues& part : parts) floats += static_cast<size_t>(part.shape.numel());
  if (floats > slot.host_floats) {
    backend.deallocate_host(slot.host);
    slot.host = nullptr;
    slot.host = static_cast<float*>(backend.allocate_host(sizeof(float) * floats));
    slot.host_floats = floats;
  }
  bool grown = false;
  slot.device.resize(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!slot.device[i].defined() || slot.device[i].numel() < parts[i].shape.numel()) {
      slot.device[i] = Tensor::empty(parts[i].shape, device_);
      grown = true;
    }
  }
  // New tensors come from the compute queue's memory pool: the copy queue may write them only
  // once they are there. That happens when a slot first sees a larger part, not step by step.
  if (grown) backend.synchronize();
  if (slot.used) {
    // Without release(), the work that reads the slot ends at the latest with what is queued now.
    if (!slot.released) backend.record_event(slot.read, Queue::kCompute);
    backend.queue_wait(Queue::kCopy, slot.read);
  }
  std::vector<Tensor> out;
  size_t offset = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const size_t n = static_cast<size_t>(parts[i].shape.numel());
    float* staged = slot.host + offset;
    std::memcpy(staged, parts[i].values, sizeof(float) * n);
    Tensor tensor = slot.device[i].prefix(parts[i].shape);
    backend.upload_async(tensor.data(), staged, sizeof(float) * n, Queue::kCopy);
    out.push_back(tensor);
    offset += n;
  }
  backend.record_event(slot.copied, Queue::kCopy);
  backend.queue_wait(Queue::kCompute, slot.copied);
  slot.used = true;
  slot.released = false;
  return out;
}

void AsyncUploads::release() {
  Slot& last = *slots_[(next_ + slots_.size() - 1) % slots_.size()];
  if (!last.used) return;
  last.backend.record_event(last.read, Queue::kCompute);
  last.released = true;
}

}  // namespace sav
