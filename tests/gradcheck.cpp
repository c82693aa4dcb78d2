#include "gradcheck.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "backends/backend.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::testing {
namespace {

std::vector<float> draw(const InputSpec& spec, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(spec.low, spec.high);
  std::vector<float> values(spec.shape.numel());
  for (float& v : values) {
    do {
      v = uniform(rng);
    } while (std::fabs(v) < spec.min_abs);
  }
  return values;
}

double weighted_sum(const Tensor& output, const std::vector<float>& weights) {
  const std::vector<float> values = output.to_vector();
  double total = 0.0;
  for (size_t i = 0; i < values.size(); ++i) total += double{values[i]} * weights[i];
  return total;
}

}  // namespace

std::vector<Tensor> make_inputs(const OpCase& op_case, Device device, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<Tensor> inputs;
  for (const InputSpec& spec : op_case.inputs) {
    Tensor t = Tensor::from_vector(spec.shape, draw(spec, rng), device);
    t.set_requires_grad(spec.requires_grad);
    inputs.push_back(t);
  }
  return inputs;
}

GradCheckResult compare_with_central_differences(const std::vector<NamedLeaf>& leaves,
                                                 const std::function<double()>& loss, double step,
                                                 double tolerance, int samples, uint64_t seed) {
  GradCheckResult result;
  std::ostringstream report;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  for (const NamedLeaf& leaf : leaves) {
    const Tensor& x = leaf.tensor;
    if (!x.grad().defined()) {
      result.passed = false;
      report << leaf.name << " " << x.shape() << ": no gradient reached it\n";
      continue;
    }
    const std::vector<float> analytic = x.grad().to_vector();
    const std::vector<float> values = x.to_vector();
    std::vector<size_t> checked(values.size());
    std::iota(checked.begin(), checked.end(), 0);
    if (samples > 0 && checked.size() > static_cast<size_t>(samples)) {
      std::shuffle(checked.begin(), checked.end(), rng);
      checked.resize(samples);
    }
    double max_diff = 0.0, max_numeric = 0.0;
    for (size_t j : checked) {
      auto loss_at = [&](float value) {
        x.backend().upload(x.data() + j, &value, sizeof(float));
        NoGradGuard no_grad;
        return loss();
      };
      const float up = values[j] + static_cast<float>(step);
      const float down = values[j] - static_cast<float>(step);
      // The difference actually taken in float, not the nominal 2 * step.
      const double numeric = (loss_at(up) - loss_at(down)) / (double{up} - double{down});
      loss_at(values[j]);
      max_diff = std::max(max_diff, std::fabs(numeric - analytic[j]));
      max_numeric = std::max(max_numeric, std::fabs(numeric));
    }
    const double error = max_diff / std::max(1.0, max_numeric);
    result.worst_error = std::max(result.worst_error, error);
    const bool ok = error <= tolerance;
    result.passed &= ok;
    report << leaf.name << " " << x.shape() << ": error " << error << (ok ? " <= " : " > ")
           << "tolerance " << tolerance << "\n";
  }
  result.report = report.str();
  return result;
}

GradCheckResult check_gradients(const OpCase& op_case, Device device, uint64_t seed) {
  std::vector<Tensor> inputs = make_inputs(op_case, device, seed);
  Tensor output = op_case.forward(inputs);

  std::mt19937 rng(static_cast<uint32_t>(seed) + 7919u);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> weights(output.numel());
  for (float& w : weights) w = uniform(rng);
  output.backward(Tensor::from_vector(output.shape(), weights, device));

  std::vector<NamedLeaf> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (op_case.inputs[i].requires_grad) {
      leaves.push_back({op_case.name + " input " + std::to_string(i), inputs[i]});
    }
  }
  return compare_with_central_differences(
      leaves, [&] { return weighted_sum(op_case.forward(inputs), weights); }, op_case.step,
      op_case.tolerance);
}

GradCheckResult check_model_gradient(const nn::VisionTransformer& model, const Tensor& patches,
                                     const std::vector<int32_t>& labels) {
  auto loss = [&] {
    return ops::cross_entropy(model.forward_training(patches, 11, 5).logits, labels);
  };
  loss().backward();
  std::vector<NamedLeaf> leaves;
  for (const nn::NamedTensor& p : model.parameters()) leaves.push_back({p.name, p.tensor});
  return compare_with_central_differences(
      leaves, [&] { return double{loss().item()}; }, 1e-3, 5e-3, 12);
}

}  // namespace sav::testing
