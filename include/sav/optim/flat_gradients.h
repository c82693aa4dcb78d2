// The gradients of a model's parameters in one buffer on their device, and back: what a
// data-parallel step sums over the ranks with one collective instead of one a tensor.
#pragma once

#include <cstdint>
#include <vector>

#include "sav/tensor.h"

namespace sav::optim {

class FlatGradients {
 public:
  // `parameters` on one device; `extras` more floats follow the gradients in the buffer (a
  // step's loss, counts and flags, summed with them). Throws sav::Error for parameters on
  // several devices or none.
  FlatGradients(std::vector<Tensor> parameters, int extras);

  // Copies every parameter's gradient (zeros where it has none yet) and then `extras` into the
  // buffer, on the device, and returns it: [gradient values..., extras...].
  const Tensor& gather(const std::vector<float>& extras);
  // Copies the buffer's gradient values back into the parameters' gradients (making them where
  // there are none) and returns its extras, downloaded.
  std::vector<float> scatter();

 private:
  std::vector<Tensor> parameters_;
  int extras_;
  int64_t values_ = 0;  // gradient values
  Tensor buffer_;
};

}  // namespace sav::optim
