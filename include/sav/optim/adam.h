// Adam (Kingma & Ba 2015), with decoupled weight decay (AdamW, Loshchilov & Hutter 2019) when
// weight_decay > 0. The moments live on the parameters' device (all parameters on one device);
// a step is one backend call for all of them, and so is zero_grad.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "sav/tensor.h"

namespace sav::optim {

struct AdamOptions {
  float lr = 1e-4f;
  float beta1 = 0.9f, beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
};

class Adam {
 public:
  // Throws sav::Error for a parameter that does not require a gradient or bad options.
  // `decayed`, when given, says per parameter whether weight_decay applies to it (AdamW recipes
  // leave biases, norms, position embeddings and tokens out); empty: to all.
  Adam(std::vector<Tensor> parameters, const AdamOptions& options, std::vector<bool> decayed = {});

  // One update of every parameter that has a gradient, each gradient taken times grad_scale.
  // With `control` (StepFigures::control(), on the parameters' device), also times its
  // clipping factor, and no update at all once a loss was not finite: decided on the device.
  // With `values` (kValues floats on the parameters' device holding next_values()), the learning
  // rate and the bias corrections are read from there when the update runs: what a step replayed
  // from a recorded graph needs.
  void step(float grad_scale = 1.0f, const Tensor& control = {}, const Tensor& values = {});
  // The values the next step reads from `values`: the learning rate, the bias corrections of step
  // steps() + 1 and the weight decay's factor, as the step itself would compute them.
  static constexpr int64_t kValues = 4;
  std::array<float, kValues> next_values() const;
  // Counts a step that a replayed graph took (the update itself is the graph's).
  void count_step() { ++steps_; }
  // Zeroes every parameter's gradient.
  void zero_grad();

  // The learning rate of the steps to come (a schedule sets it before each step). Throws
  // sav::Error unless positive and finite.
  void set_lr(float lr);

  int64_t steps() const { return steps_; }
  const std::vector<Tensor>& parameters() const { return parameters_; }
  const AdamOptions& options() const { return options_; }
  // The moments m and v, one per parameter, in parameter order (for checkpoints).
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  // Restores the state saved from first_moments(), second_moments() and steps().
  void restore(const std::vector<std::vector<float>>& m, const std::vector<std::vector<float>>& v,
               int64_t steps);

 private:
  std::vector<Tensor> parameters_, m_, v_;
  AdamOptions options_;
  std::vector<bool> decayed_;
  int64_t steps_ = 0;
};

// The L2 norm of all the parameters' gradients together (those that have one), computed on their
// device as clipping by global norm computes it (StepFigures::clip), and read back.
float gradient_norm(const std::vector<Tensor>& parameters);

}  // namespace sav::optim
