#include "sav/graph.h"

#include <utility>

#include "backends/backend.h"
#include "sav/error.h"

namespace sav {

bool DeviceGraph::available(Device device) { return backend_for(device).has_graphs(); }

DeviceGraph DeviceGraph::record(Device device, const std::function<void()>& work) {
  Backend& backend = backend_for(device);
  if (!backend.begin_capture()) fail("device graphs: ", device, " has none");
  try {
    work();
  } catch (...) {
    backend.abandon_capture();
    throw;
  }
  DeviceGraph graph;
  graph.device_ = device;
  graph.graph_ = backend.end_capture();
  return graph;
}

DeviceGraph::~DeviceGraph() {
  if (graph_ != nullptr) backend_for(device_).destroy_graph(graph_);
}

DeviceGraph::DeviceGraph(DeviceGraph&& other) noexcept
    : device_(other.device_), graph_(std::exchange(other.graph_, nullptr)) {}

DeviceGraph& DeviceGraph::operator=(DeviceGraph&& other) noexcept {
  if (this != &other) {
    if (graph_ != nullptr) backend_for(device_).destroy_graph(graph_);
    device_ = other.device_;
    graph_ = std::exchange(other.graph_, nullptr);
  }
  return *this;
}

void DeviceGraph::replay() const {
  if (graph_ == nullptr) fail("device graphs: replay of a graph never recorded");
  backend_for(device_).replay(graph_);
}

}  // namespace sav
