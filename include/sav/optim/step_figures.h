// What training steps decide and count on the device, so that the host never waits on a step:
// the control values Adam reads (the clipping factor, and whether to update at all), and each
// step's loss and count classified right, which the host takes when it wants them (a progress
// line a few times a second, an epoch's end) without stalling the device.
#pragma once

#include <cstdint>
#include <vector>

#include "sav/tensor.h"

namespace sav::optim {

// One step's figures: its mean loss, the images it classified right, and its images.
struct StepRecord {
  float loss;
  int64_t correct;
  int64_t images;
};

// The figures of steps, added step by step in order (so that a sum is the same however the
// steps were taken: in one take or several, before or after a resumption).
struct StepSums {
  int64_t steps = 0;
  int64_t images = 0;      // of the steps whose loss was finite
  double loss_sum = 0;     // sum over those steps of images x mean loss
  int64_t correct = 0;     // images whose largest logit was at their label
  int64_t first_bad = -1;  // the value of `steps` at the first loss that was not finite

  void add(const StepRecord& step);
};

class StepFigures {
 public:
  explicit StepFigures(Device device);
  ~StepFigures();
  StepFigures(const StepFigures&) = delete;
  StepFigures& operator=(const StepFigures&) = delete;

  // What Adam::step reads on the device: the gradients' factor (1 unless clipped), whether to
  // update (1 until a loss is not finite, then 0 for good), and the last clipped norm.
  const Tensor& control() const { return control_; }

  // Queues the step's figures: its mean loss ([1]), its logits ([batch, classes]) and labels
  // ([batch], whole numbers). A loss that is not finite stops every later update (control).
  // Makes room first (make_room).
  void record(const Tensor& loss, const Tensor& logits, const Tensor& labels);
  // Sends the recorded steps to the host when the device holds no room for another (waiting
  // for an earlier copy if one is still on its way): outside a step that a graph records, which
  // must not hold the copy.
  void make_room();
  // Counts a step whose figures a replayed graph recorded (after make_room).
  void count_record();
  // Queues the factor that clips the parameters' gradients to global L2 norm `bound`.
  void clip(const std::vector<Tensor>& parameters, float bound);

  // Never waits: adds to `sums` the figures of the steps that have reached the host since the
  // last take, and sends for the rest. Returns how many steps it added.
  int64_t poll(StepSums& sums);
  // Waits for every step recorded so far and adds their figures to `sums`.
  void drain(StepSums& sums);

  // Steps the device holds before the host must take them (record waits then).
  static constexpr int64_t kCapacity = 1024;

 private:
  void request();  // queues the copy of the steps recorded so far, and starts anew
  void receive();  // moves a copy that has arrived to arrived_
  int64_t hand_over(StepSums& sums);

  // On the device: [0] the steps recorded since the last request, then per step its loss, the
  // count right and its images.
  Tensor records_;
  Tensor control_;          // on the device: StepControl values (src/backends/backend.h)
  float* host_ = nullptr;   // page-locked: where a request's copy lands
  void* copied_ = nullptr;  // an event after that copy
  int64_t recorded_ = 0;    // steps recorded since the last request
  int64_t requested_ = -1;  // steps in the request on its way; -1: none
  std::vector<StepRecord> arrived_;
};

}  // namespace sav::optim
