// Reverse-mode automatic differentiation on a tape, micrograd-style, lifted to tensors: every
// result of an op keeps its inputs and a backward function; Tensor::backward() sorts the graph
// topologically and runs the backward functions in reverse, each ACCUMULATING into its inputs'
// gradients.
#pragma once

#include <functional>
#include <vector>

#include "sav/tensor.h"

namespace sav {

// Receives the gradient of the op's output and adds the op's contribution to the gradients of
// those inputs that require one (input.grad_data()). It keeps what it reads and no more: an
// input whose values it does not read is kept as input.gradient_only(), so that those values
// are freed after the forward pass. It must not hold the output itself (a cycle); where it
// reads the output's values it keeps output.detach().
using BackwardFn = std::function<void(const Tensor& grad_output)>;

struct Node {
  const char* op;              // for messages and inspection: "linear", "layernorm", ...
  std::vector<Tensor> inputs;  // the op's inputs, gradient_only: their place in the tape
  BackwardFn backward;
};

// Whether ops record themselves on the tape (on by default, per thread).
bool grad_enabled();

// Turns recording off for its lifetime: evaluation, optimizer updates.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches `backward` to `out` when recording is on and any input requires a gradient; then
// `out` requires one too. Returns `out`. Undefined inputs (an absent bias) are ignored.
Tensor record(Tensor out, const char* op, std::vector<Tensor> inputs, BackwardFn backward);

namespace detail {
// The backward pass behind Tensor::backward: grad_output is already checked against root.
void run_backward(const Tensor& root, const Tensor& grad_output);
}  // namespace detail

}  // namespace sav
