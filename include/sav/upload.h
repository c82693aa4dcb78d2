// Uploads that overlap the device's work. Values go from the host through page-locked memory to
// the device on the device's copy queue, two slots deep: while the device still reads one slot's
// tensors, the host fills the other and its copy runs beside the compute queue's work. On the
// CPU, where work is synchronous, the same calls copy at once.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "sav/tensor.h"

namespace sav {

// One part of an upload: shape.numel() values at `values`, on the host.
struct HostValues {
  Shape shape;
  const float* values;
};

class AsyncUploads {
 public:
  // Uploads of `parts` tensors at a time to `device`.
  AsyncUploads(Device device, int parts);
  ~AsyncUploads();
  AsyncUploads(const AsyncUploads&) = delete;
  AsyncUploads& operator=(const AsyncUploads&) = delete;

  // Copies the parts into the next slot's page-locked memory and queues their upload; returns the
  // slot's tensors, which the compute queue's work issued from now on sees complete. The host
  // waits only when the slot's previous upload has not yet left its memory, which happens only
  // when the device is two uploads behind. Throws sav::Error for the wrong number of parts.
  std::vector<Tensor> upload(const std::vector<HostValues>& parts);
  // Marks the end of the work issued so far that reads the last upload's tensors: their slot is
  // rewritten only after that work is done. Call it after issuing that work.
  void release();

 private:
  struct Slot;
  Device device_;
  int parts_;
  std::vector<std::unique_ptr<Slot>> slots_;
  size_t next_ = 0;
};

}  // namespace sav
