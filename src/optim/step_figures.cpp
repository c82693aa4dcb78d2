#include "sav/optim/step_figures.h"

#include <cmath>

#include "backends/backend.h"
#include "sav/error.h"

namespace sav::optim {

void StepSums::add(const StepRecord& step) {
  if (!std::isfinite(step.loss)) {
    if (first_bad < 0) first_bad = steps;
  } else {
    loss_sum += double{step.loss} * static_cast<double>(step.images);
    correct += step.correct;
    images += step.images;
  }
  ++steps;
}

StepFigures::StepFigures(Device device)
    : records_(Tensor::zeros({1 + 3 * kCapacity}, device)),
      control_(Tensor::from_vector({kStepControlSize}, {1.0f, 1.0f, 0.0f}, device)) {
  Backend& backend = records_.backend();
  host_ = static_cast<float*>(backend.allocate_host(sizeof(float) * records_.numel()));
  copied_ = backend.create_event();
}

StepFigures::~StepFigures() {
  Backend& backend = records_.backend();
  if (requested_ >= 0) backend.wait_event(copied_);  // the copy still writes host_
  backend.deallocate_host(host_);
  backend.destroy_event(copied_);
}

void StepFigures::record(const Tensor& loss, const Tensor& logits, const Tensor& labels) {
  if (loss.numel() != 1 || logits.shape().rank() != 2 || labels.numel() != logits.shape()[0]) {
    fail("step figures: a loss ", loss.shape(), ", logits ", logits.shape(), " and labels ",
         labels.shape(), " (one loss, [batch, classes] logits and one label a row expected)");
  }
  make_room();
  records_.backend().record_step(records_.data(), control_.data(), loss.data(), logits.data(),
                                 labels.data(), logits.shape()[0], logits.shape()[1]);
  ++recorded_;
}

void StepFigures::make_room() {
  if (recorded_ < kCapacity) return;
  // The host has not taken any for kCapacity steps.
  if (requested_ >= 0) {
    records_.backend().wait_event(copied_);
    receive();
  }
  request();
}

void StepFigures::count_record() {
  if (recorded_ >= kCapacity) fail("step figures: a replayed step found no room (make_room first)");
  ++recorded_;
}

void StepFigures::clip(const std::vector<Tensor>& parameters, float bound) {
  if (!(bound > 0)) fail("gradient clipping: the bound must be positive, got ", bound);
  std::vector<FloatSpan> spans;
  for (const Tensor& p : parameters) {
    const Tensor grad = p.grad();
    if (grad.defined()) spans.push_back({grad.data(), grad.numel()});
  }
  control_.backend().clip_factor(control_.data(), spans.data(), static_cast<int>(spans.size()),
                                 bound);
}

void StepFigures::request() {
  Backend& backend = records_.backend();
  backend.download_async(host_, records_.data(), sizeof(float) * (1 + 3 * recorded_),
                         Queue::kCompute);
  backend.record_event(copied_, Queue::kCompute);
  backend.fill(records_.data(), 0.0f, 1);
  requested_ = recorded_;
  recorded_ = 0;
}

void StepFigures::receive() {
  if (std::llround(host_[0]) != requested_) {
    fail("step figures: the device recorded ", host_[0], " steps, the host ", requested_);
  }
  for (int64_t k = 0; k < requested_; ++k) {
    const float* r = host_ + 1 + 3 * k;
    arrived_.push_back({r[0], std::llround(r[1]), std::llround(r[2])});
  }
  requested_ = -1;
}

int64_t StepFigures::hand_over(StepSums& sums) {
  for (const StepRecord& step : arrived_) sums.add(step);
  const auto count = static_cast<int64_t>(arrived_.size());
  arrived_.clear();
  return count;
}

int64_t StepFigures::poll(StepSums& sums) {
  Backend& backend = records_.backend();
  if (requested_ >= 0 && backend.event_passed(copied_)) receive();
  if (requested_ < 0 && recorded_ > 0) {
    request();
    if (backend.event_passed(copied_)) receive();  // at once where work is synchronous
  }
  return hand_over(sums);
}

void StepFigures::drain(StepSums& sums) {
  Backend& backend = records_.backend();
  if (requested_ >= 0) {
    backend.wait_event(copied_);
    receive();
  }
  if (recorded_ > 0) {
    request();
    backend.wait_event(copied_);
    receive();
  }
  hand_over(sums);
}

}  // namespace sav::optim
