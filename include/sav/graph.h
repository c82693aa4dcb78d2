// Device graphs: the work a piece of code queues on a GPU, recorded once and replayed as one
// launch (CUDA graphs, by stream capture). Nothing on the host runs during a replay: the graph
// names the memory it reads and writes, and what changes from one replay to the next must be
// values in that memory (a training step's batch, its learning rate, its dropout streams), never
// arguments baked into the recording. Memory the work allocates belongs to the graph and keeps
// its addresses across replays. The CPU has no graphs: its work runs as it is issued.
#pragma once

#include <functional>

#include "sav/device.h"

namespace sav {

class DeviceGraph {
 public:
  // Whether `device` records graphs.
  static bool available(Device device);
  // Records what `work` queues on `device`'s compute queue, without running any of it. Throws
  // sav::Error where the device has no graphs, or when the work does what a recording cannot
  // hold (waits for the device, allocates or frees outside the queue's order), naming it.
  static DeviceGraph record(Device device, const std::function<void()>& work);

  DeviceGraph() = default;
  ~DeviceGraph();
  DeviceGraph(DeviceGraph&& other) noexcept;
  DeviceGraph& operator=(DeviceGraph&& other) noexcept;
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;

  // Queues the recorded work again, on the compute queue (asynchronously, as the work itself).
  void replay() const;
  bool defined() const { return graph_ != nullptr; }

 private:
  Device device_;
  void* graph_ = nullptr;
};

}  // namespace sav
