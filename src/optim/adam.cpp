#include "sav/optim/adam.h"

#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "sav/autograd.h"
#include "sav/error.h"
#include "sav/ops.h"

namespace sav::optim {

Adam::Adam(std::vector<Tensor> parameters, const AdamOptions& options, std::vector<bool> decayed)
    : parameters_(std::move(parameters)), options_(options), decayed_(std::move(decayed)) {
  if (!decayed_.empty() && decayed_.size() != parameters_.size()) {
    fail("adam: ", decayed_.size(), " decay flags given for ", parameters_.size(), " parameters");
  }
  if (!(options_.lr > 0.0f)) fail("adam: learning rate must be positive, got ", options_.lr);
  if (!(options_.beta1 >= 0.0f && options_.beta1 < 1.0f) ||
      !(options_.beta2 >= 0.0f && options_.beta2 < 1.0f)) {
    fail("adam: betas must be in [0, 1), got ", options_.beta1, " and ", options_.beta2);
  }
  if (!(options_.eps > 0.0f)) fail("adam: eps must be positive, got ", options_.eps);
  if (!(options_.weight_decay >= 0.0f)) {
    fail("adam: weight decay must be 0 or positive, got ", options_.weight_decay);
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    if (!p.requires_grad())
      fail("adam: parameter ", i, " ", p.shape(), " does not require a gradient");
    if (p.device() != parameters_.front().device()) {
      fail("adam: parameter ", i, " is on ", p.device(), " but parameter 0 on ",
           parameters_.front().device(), " (one optimizer updates one device's parameters)");
    }
    m_.push_back(Tensor::zeros(p.shape(), p.device()));
    v_.push_back(Tensor::zeros(p.shape(), p.device()));
  }
}

std::array<float, Adam::kValues> Adam::next_values() const {
  static_assert(kValues == kAdamValuesSize);
  const AdamScales scales =
      adam_scales(options_.lr, options_.beta1, options_.beta2, options_.weight_decay, steps_ + 1);
  std::array<float, kValues> values{};
  values[kAdamLr] = options_.lr;
  values[kAdamM] = scales.m;
  values[kAdamV] = scales.v;
  values[kAdamDecay] = scales.decay;
  return values;
}

void Adam::step(float grad_scale, const Tensor& control, const Tensor& values) {
  const Device device = parameters_.front().device();
  if (control.defined() && (control.numel() != kStepControlSize || control.device() != device)) {
    fail("adam: control values ", control.shape(), " on ", control.device(), " (", kStepControlSize,
         " on ", device, " expected)");
  }
  if (values.defined() && (values.numel() != kValues || values.device() != device)) {
    fail("adam: step values ", values.shape(), " on ", values.device(), " (", kValues, " on ",
         device, " expected)");
  }
  ++steps_;
  // One backend call for the parameters weight decay applies to, one for the others (if any).
  std::vector<AdamTensor> tensors[2];
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    const bool decayed = decayed_.empty() || decayed_[i];
    tensors[decayed ? 0 : 1].push_back(
        {p.data(), grad.data(), m_[i].data(), v_[i].data(), p.numel()});
  }
  for (int group = 0; group < 2; ++group) {
    if (tensors[group].empty()) continue;
    parameters_.front().backend().adam_update(
        tensors[group].data(), static_cast<int>(tensors[group].size()), options_.lr, options_.beta1,
        options_.beta2, options_.eps, group == 0 ? options_.weight_decay : 0.0f, steps_, grad_scale,
        control.defined() ? control.data() : nullptr, values.defined() ? values.data() : nullptr);
  }
}

void Adam::set_lr(float lr) {
  if (!(lr > 0.0f) || !std::isfinite(lr)) fail("adam: learning rate must be positive, got ", lr);
  options_.lr = lr;
}

void Adam::zero_grad() {
  std::vector<FloatSpan> grads;
  for (const Tensor& p : parameters_) {
    const Tensor grad = p.grad();
    if (grad.defined()) grads.push_back({grad.data(), grad.numel()});
  }
  if (!grads.empty()) {
    parameters_.front().backend().zero(grads.data(), static_cast<int>(grads.size()));
  }
}

void Adam::restore(const std::vector<std::vector<float>>& m,
                   const std::vector<std::vector<float>>& v, int64_t steps) {
  if (m.size() != parameters_.size() || v.size() != parameters_.size()) {
    fail("adam: state for ", m.size(), " parameters given, the optimizer has ", parameters_.size());
  }
  if (steps < 0) fail("adam: step count must not be negative, got ", steps);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (static_cast<int64_t>(m[i].size()) != parameters_[i].numel() ||
        static_cast<int64_t>(v[i].size()) != parameters_[i].numel()) {
      fail("adam: state of parameter ", i, " has the wrong size for ", parameters_[i].shape());
    }
    m_[i] = Tensor::from_vector(parameters_[i].shape(), m[i], parameters_[i].device());
    v_[i] = Tensor::from_vector(parameters_[i].shape(), v[i], parameters_[i].device());
  }
  steps_ = steps;
}

float gradient_norm(const std::vector<Tensor>& parameters) {
  std::vector<FloatSpan> spans;
  for (const Tensor& p : parameters) {
    const Tensor grad = p.grad();
    if (grad.defined()) spans.push_back({grad.data(), grad.numel()});
  }
  if (spans.empty()) return 0.0f;
  const Tensor control = Tensor::empty({kStepControlSize}, parameters.front().device());
  control.backend().clip_factor(control.data(), spans.data(), static_cast<int>(spans.size()),
                                INFINITY);
  return control.to_vector()[kGradNorm];
}

}  // namespace sav::optim
