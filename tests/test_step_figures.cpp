// What a training step keeps on the device so that the host never waits on it: uploads through
// two slots (sav/upload.h), each step's figures and the control values Adam reads
// (sav/optim/step_figures.h), and the clipping factor. Each check runs on the CPU, and on the
// CUDA backend where one is usable (the CUDA emulator in the suite: the Cuda* names).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/backend.h"
#include "sav/error.h"
#include "sav/ops.h"
#include "sav/optim/adam.h"
#include "sav/optim/step_figures.h"
#include "sav/upload.h"
#include "test_support.h"

namespace sav::testing {
namespace {

std::vector<float> random_values(size_t n, unsigned int seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-2, 2);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

// Six steps, the fourth's loss NaN: the host gets every step's figures in order, the same sums
// as adding them on the host, the first bad step named, and Adam's go flag off for good.
void records_every_step_in_order(Device device) {
  optim::StepFigures figures(device);
  const int64_t batch = 5, classes = 4;
  const std::vector<float> labels = {0, 3, 1, 1, 2};
  optim::StepSums expected, got;
  const float losses[] = {2.25f, 1.5f, 0.75f, NAN, 3.0f, 0.5f};
  for (int step = 0; step < 6; ++step) {
    const std::vector<float> logits = random_values(batch * classes, 10 + step);
    int64_t correct = 0;
    for (int64_t i = 0; i < batch; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < classes; ++j) {
        if (logits[i * classes + j] > logits[i * classes + best]) best = j;
      }
      correct += best == static_cast<int64_t>(labels[i]);
    }
    expected.add({losses[step], correct, batch});
    figures.record(Tensor::from_vector({1}, {losses[step]}, device),
                   Tensor::from_vector({batch, classes}, logits, device),
                   Tensor::from_vector({batch}, labels, device));
    if (step == 1) figures.poll(got);  // a take in the middle changes nothing
  }
  figures.drain(got);
  EXPECT_EQ(got.steps, 6);
  EXPECT_EQ(got.first_bad, 3);
  EXPECT_EQ(got.images, expected.images);
  EXPECT_EQ(got.correct, expected.correct);
  EXPECT_EQ(got.loss_sum, expected.loss_sum);  // the same products, added in the same order
  EXPECT_EQ(figures.control().to_vector(), (std::vector<float>{1.0f, 0.0f, 0.0f}));
  optim::StepSums none;
  figures.drain(none);
  EXPECT_EQ(none.steps, 0);
}

TEST(StepFigures, RecordsEveryStepInOrder) { records_every_step_in_order(Device::cpu()); }
TEST(CudaStepFigures, RecordsEveryStepInOrder) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  records_every_step_in_order(Device::cuda());
}

// More steps than the device holds, never taken: the host takes them when it must, and the
// sums count every one.
void more_steps_than_it_holds(Device device) {
  optim::StepFigures figures(device);
  const Tensor logits = Tensor::from_vector({2, 3}, {1, 0, 0, 0, 0, 1}, device);
  const Tensor labels = Tensor::from_vector({2}, {0, 1}, device);
  const int64_t steps = optim::StepFigures::kCapacity + 5;
  optim::StepSums expected, got;
  for (int64_t k = 0; k < steps; ++k) {
    const float loss = 0.001f * static_cast<float>(k);
    expected.add({loss, 1, 2});
    figures.record(Tensor::from_vector({1}, {loss}, device), logits, labels);
  }
  figures.drain(got);
  EXPECT_EQ(got.steps, steps);
  EXPECT_EQ(got.correct, steps);
  EXPECT_EQ(got.first_bad, -1);
  EXPECT_EQ(got.loss_sum, expected.loss_sum);
}

TEST(StepFigures, MoreStepsThanItHoldsAreAllCounted) { more_steps_than_it_holds(Device::cpu()); }
TEST(CudaStepFigures, MoreStepsThanItHoldsAreAllCounted) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  more_steps_than_it_holds(Device::cuda());
}

// The clipping factor: the global norm of gradients of many sizes (one over 16,384 values, the
// chunk a GPU block takes) within 1e-6 of the norm in double, the factor bound / norm or 1, the
// same bits twice; and Adam takes the gradients times the factor, or nothing once go is off.
void clips_to_the_global_norm(Device device) {
  std::vector<Tensor> params;
  double squares = 0;
  for (const int64_t n : {int64_t{3}, int64_t{40000}, int64_t{1}, int64_t{700}}) {
    const std::vector<float> grad = random_values(static_cast<size_t>(n), 30 + n);
    for (float g : grad) squares += double{g} * g;
    Tensor p = Tensor::zeros({n}, device);
    p.set_requires_grad();
    p.backward(Tensor::from_vector({n}, grad, device));
    params.push_back(p);
  }
  const double norm = std::sqrt(squares);
  optim::StepFigures figures(device);
  figures.clip(params, 10.0f);
  const std::vector<float> control = figures.control().to_vector();
  EXPECT_NEAR(control[kGradNorm], norm, 1e-6 * norm);
  EXPECT_FLOAT_EQ(control[kGradFactor], static_cast<float>(10.0 / norm));
  EXPECT_EQ(control[kGo], 1.0f);
  figures.clip(params, 10.0f);
  EXPECT_EQ(figures.control().to_vector(), control);  // the same order, the same bits
  EXPECT_FLOAT_EQ(optim::gradient_norm(params), control[kGradNorm]);
  figures.clip(params, 1e6f);
  EXPECT_EQ(figures.control().to_vector()[kGradFactor], 1.0f);
  // Adam: one step with the factor of bound 10 equals one on the gradients times that factor.
  figures.clip(params, 10.0f);
  optim::Adam clipped(params, {});
  clipped.step(1.0f, figures.control());
  std::vector<Tensor> twins;
  for (const Tensor& p : params) {
    Tensor q = Tensor::zeros(p.shape(), device);
    q.set_requires_grad();
    std::vector<float> g = p.grad().to_vector();
    for (float& x : g) x *= control[kGradFactor];
    q.backward(Tensor::from_vector(p.shape(), g, device));
    twins.push_back(q);
  }
  optim::Adam plain(twins, {});
  plain.step();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<float> a = clipped.first_moments()[i].to_vector();
    const std::vector<float> b = plain.first_moments()[i].to_vector();
    for (size_t k = 0; k < a.size(); ++k) ASSERT_NEAR(a[k], b[k], 1e-7f) << i << ", " << k;
  }
  // A loss that is not finite: go off, and no later step changes anything.
  figures.record(Tensor::from_vector({1}, {INFINITY}, device), Tensor::zeros({1, 2}, device),
                 Tensor::zeros({1}, device));
  const std::vector<float> before = params[1].to_vector();
  clipped.step(1.0f, figures.control());
  EXPECT_EQ(params[1].to_vector(), before);
  EXPECT_EQ(clipped.first_moments()[1].to_vector(), plain.first_moments()[1].to_vector());
  EXPECT_NE(error_of([&] { clipped.step(1.0f, Tensor::zeros({2}, device)); }).find("control"),
            std::string::npos);
}

TEST(StepFigures, ClipsToTheGlobalNorm) { clips_to_the_global_norm(Device::cpu()); }
TEST(CudaStepFigures, ClipsToTheGlobalNorm) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  clips_to_the_global_norm(Device::cuda());
}

// Uploads through two slots: each arrives whole; a smaller batch fits the slot a larger one
// sized; an upload's tensors stay as they were while the next upload fills the other slot.
void uploads_arrive_through_two_slots(Device device) {
  AsyncUploads uploads(device, 2);
  std::vector<std::vector<Tensor>> kept;
  for (int k = 0; k < 6; ++k) {
    const int64_t rows = k == 3 ? 2 : 4;  // one smaller batch
    const std::vector<float> a = random_values(static_cast<size_t>(rows * 3), 50 + k);
    const std::vector<float> b = random_values(static_cast<size_t>(rows), 60 + k);
    const std::vector<Tensor> got = uploads.upload({{{rows, 3}, a.data()}, {{rows}, b.data()}});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].shape(), (Shape{rows, 3}));
    EXPECT_EQ(got[0].to_vector(), a) << "upload " << k;
    EXPECT_EQ(got[1].to_vector(), b) << "upload " << k;
    if (k > 0) {  // the upload before, in the other slot, untouched
      const std::vector<float> a_before =
          random_values(static_cast<size_t>(kept.back()[0].numel()), 50 + k - 1);
      EXPECT_EQ(kept.back()[0].to_vector(), a_before) << "upload " << k - 1;
    }
    kept.push_back(got);
    uploads.release();
  }
  const std::vector<float> one = {1.0f};
  EXPECT_NE(error_of([&] {
              uploads.upload({{{1}, one.data()}});
            }).find("1 parts given, 2"),
            std::string::npos);
}

TEST(AsyncUploads, ArriveThroughTwoSlots) { uploads_arrive_through_two_slots(Device::cpu()); }
TEST(CudaAsyncUploads, ArriveThroughTwoSlots) {
  if (!device_available(Device::cuda())) GTEST_SKIP() << "no usable CUDA device";
  uploads_arrive_through_two_slots(Device::cuda());
}

// Bad input to the step's parts is refused, naming what was given: targets of another shape,
// a non-positive clipping bound, figures of mismatched shapes.
TEST(StepFigures, RefusesWhatDoesNotFit) {
  const Tensor logits = Tensor::zeros({2, 3});
  EXPECT_NE(error_of([&] {
              ops::cross_entropy(logits, Tensor::zeros({2, 4}));
            }).find("targets"),
            std::string::npos);
  optim::StepFigures figures(Device::cpu());
  EXPECT_NE(error_of([&] { figures.clip({}, 0.0f); }).find("bound must be positive"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              figures.record(Tensor::zeros({2}), logits, Tensor::zeros({2}));
            }).find("step figures"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              figures.record(Tensor::zeros({1}), logits, Tensor::zeros({3}));
            }).find("step figures"),
            std::string::npos);
}

}  // namespace
}  // namespace sav::testing
