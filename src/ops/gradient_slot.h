// How the ops' backward functions put a gradient they give whole: written over on its first
// contribution of a pass (Tensor::grad_slot), so that no zeroing launch precedes it, added to
// after that.
#pragma once

#include <cstdint>

#include "backends/backend.h"
#include "sav/tensor.h"

namespace sav::ops::detail {

inline Write write_of(const Tensor::GradSlot& slot) {
  return slot.overwrite ? Write::kOverwrite : Write::kAccumulate;
}

// x's gradient (+)= the n values at dy, on x's device: a copy or an addition.
inline void pass_gradient(const Tensor& x, const float* dy, int64_t n) {
  const Tensor::GradSlot slot = x.grad_slot();
  if (slot.overwrite) {
    x.backend().copy(slot.data, dy, sizeof(float) * static_cast<size_t>(n));
  } else {
    x.backend().accumulate(slot.data, dy, n);
  }
}

}  // namespace sav::ops::detail
