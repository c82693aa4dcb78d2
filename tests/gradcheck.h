// The op test harness: one description per op (OpCase), checked by central differences on any
// backend. Later backends run the same table.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "sav/device.h"
#include "sav/nn/vit.h"
#include "sav/tensor.h"

namespace sav::testing {

// One input of an op under test: its shape and the range its values are drawn from.
struct InputSpec {
  Shape shape;
  float low = -1.0f, high = 1.0f;
  // Values closer than this to zero are drawn again: keeps inputs away from a kink (relu at 0)
  // that a finite difference would straddle.
  float min_abs = 0.0f;
  bool requires_grad = true;
};

struct OpCase {
  std::string name;  // also the test's name: letters, digits and underscores
  std::vector<InputSpec> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> forward;
  // Largest accepted error, max |analytic - numeric| / max(1, max |numeric|), over each input.
  double tolerance = 1e-3;
  double step = 1e-2;  // central-difference step
};

// How GoogleTest names a case in its messages.
inline void PrintTo(const OpCase& op_case, std::ostream* out) { *out << op_case.name; }

// Inputs of a case drawn from a seeded generator, on `device`.
std::vector<Tensor> make_inputs(const OpCase& op_case, Device device, uint64_t seed);

struct GradCheckResult {
  bool passed = true;
  double worst_error = 0.0;  // the largest error over all inputs
  std::string report;        // one line per input: its error and the tolerance
};

struct NamedLeaf {
  std::string name;
  Tensor tensor;  // a leaf whose gradient the tape has filled
};

// Compares each leaf's gradient with central differences of `loss` (evaluated in double, with
// the leaf's values perturbed in place), over `samples` elements of each leaf drawn at random,
// or all of them when samples is 0.
GradCheckResult compare_with_central_differences(const std::vector<NamedLeaf>& leaves,
                                                 const std::function<double()>& loss, double step,
                                                 double tolerance, int samples = 0,
                                                 uint64_t seed = 1);

// A whole model, dropout on (seed 11, step 5), against central differences of its
// cross-entropy on `patches` and `labels`: 12 sampled elements of every parameter tensor, step
// 1e-3 (small enough that the few relu units near zero are not crossed), tolerance 5e-3.
GradCheckResult check_model_gradient(const nn::VisionTransformer& model, const Tensor& patches,
                                     const std::vector<int32_t>& labels);

// Compares the tape's gradient of L = sum(output * R), R fixed and random, with central
// differences of L computed in double precision, for every input that requires a gradient.
GradCheckResult check_gradients(const OpCase& op_case, Device device, uint64_t seed = 1);

}  // namespace sav::testing
