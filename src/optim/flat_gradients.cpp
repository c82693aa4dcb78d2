#include "sav/optim/flat_gradients.h"

#include "backends/backend.h"
#include "sav/error.h"

namespace sav::optim {

FlatGradients::FlatGradients(std::vector<Tensor> parameters, int extras)
    : parameters_(std::move(parameters)), extras_(extras) {
  if (parameters_.empty()) fail("flat gradients: no parameters");
  if (extras_ < 0) fail("flat gradients: ", extras_, " extra values");
  for (const Tensor& p : parameters_) {
    if (p.device() != parameters_.front().device()) {
      fail("flat gradients: a parameter is on ", p.device(), ", another on ",
           parameters_.front().device());
    }
    values_ += p.numel();
  }
  buffer_ = Tensor::zeros({values_ + extras_}, parameters_.front().device());
}

const Tensor& FlatGradients::gather(const std::vector<float>& extras) {
  if (static_cast<int>(extras.size()) != extras_) {
    fail("flat gradients: ", extras.size(), " extra values given for ", extras_);
  }
  Backend& backend = buffer_.backend();
  float* at = buffer_.data();
  for (const Tensor& p : parameters_) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(p.numel());
    const Tensor grad = p.grad();
    if (grad.defined()) {
      backend.copy(at, grad.data(), bytes);
    } else {
      backend.fill(at, 0.0f, p.numel());
    }
    at += p.numel();
  }
  if (extras_ > 0) backend.upload(at, extras.data(), sizeof(float) * extras.size());
  return buffer_;
}

std::vector<float> FlatGradients::scatter() {
  Backend& backend = buffer_.backend();
  const float* at = buffer_.data();
  for (const Tensor& p : parameters_) {
    backend.copy(p.grad_data(), at, sizeof(float) * static_cast<size_t>(p.numel()));
    at += p.numel();
  }
  std::vector<float> extras(extras_);
  if (extras_ > 0) backend.download(extras.data(), at, sizeof(float) * extras.size());
  return extras;
}

}  // namespace sav::optim
