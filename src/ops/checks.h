// Argument checks shared by the ops: every failure names the op and what it was given.
#pragma once

#include <initializer_list>
#include <utility>
#include <vector>

#include "sav/error.h"
#include "sav/tensor.h"

namespace sav::ops::detail {

using NamedTensor = std::pair<const char*, const Tensor*>;

inline void require_defined(const char* op, std::initializer_list<NamedTensor> tensors) {
  for (const auto& [name, tensor] : tensors) {
    if (!tensor->defined()) fail(op, ": ", name, " is undefined");
  }
}

inline void require_rank(const char* op, const char* name, const Tensor& t, int rank) {
  if (t.shape().rank() != rank) {
    fail(op, ": ", name, " must be ", rank, "-D, got shape ", t.shape());
  }
}

using NamedDevice = std::pair<const char*, Device>;

// The devices of an op's inputs must be one; returns it.
inline Device require_one_device(const char* op, const std::vector<NamedDevice>& devices) {
  if (devices.empty()) fail(op, ": no input tensor given");
  for (const NamedDevice& entry : devices) {
    if (entry.second != devices.front().second) {
      fail(op, ": ", devices.front().first, " is on ", devices.front().second, " but ", entry.first,
           " is on ", entry.second, " (move them to one device)");
    }
  }
  return devices.front().second;
}

// The device of all defined tensors among an op's inputs.
inline Device same_device(const char* op, std::initializer_list<NamedTensor> tensors) {
  std::vector<NamedDevice> devices;
  for (const auto& [name, tensor] : tensors) {
    if (tensor->defined()) devices.emplace_back(name, tensor->device());
  }
  return require_one_device(op, devices);
}

}  // namespace sav::ops::detail
