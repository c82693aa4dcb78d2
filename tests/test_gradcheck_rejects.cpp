// The harness can fail: ops with a deliberately wrong backward, built with the same tape API as
// the real ones, must be rejected. Each test expects the check to FAIL and prints its report.
#include <gtest/gtest.h>

#include <iostream>

#include "backends/backend.h"
#include "gradcheck.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::testing {
namespace {

// relu whose backward forgets the mask: passes the gradient through where x <= 0 too.
Tensor relu_without_mask(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().relu_forward(y.data(), x.data(), x.numel());
  return record(y, "broken_relu", {x}, [x](const Tensor& dy) {
    dy.backend().accumulate(x.grad_data(), dy.data(), x.numel());
  });
}

// linear whose weight gradient is half what it should be.
Tensor linear_with_half_weight_grad(const Tensor& x, const Tensor& w) {
  const int m = static_cast<int>(x.shape().rows()), k = static_cast<int>(w.shape()[1]),
            n = static_cast<int>(w.shape()[0]);
  Tensor y = Tensor::empty(x.shape().with_last(n), x.device());
  x.backend().gemm(Transpose::kNo, Transpose::kYes, m, n, k, 1.0f, x.data(), k, w.data(), k, 0.0f,
                   y.data(), n);
  return record(y, "broken_linear", {x, w}, [x, w, m, n, k](const Tensor& dy) {
    Backend& backend = dy.backend();
    backend.gemm(Transpose::kNo, Transpose::kNo, m, k, n, 1.0f, dy.data(), n, w.data(), k, 1.0f,
                 x.grad_data(), k);
    backend.gemm(Transpose::kYes, Transpose::kNo, n, k, m, 0.5f, dy.data(), n, x.data(), k, 1.0f,
                 w.grad_data(), k);
  });
}

// An identity whose backward overwrites the input's gradient instead of adding to it: right
// alone, wrong as soon as the input feeds two ops.
Tensor identity_that_overwrites(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  x.backend().copy(y.data(), x.data(), sizeof(float) * x.numel());
  return record(y, "broken_identity", {x}, [x](const Tensor& dy) {
    dy.backend().copy(x.grad_data(), dy.data(), sizeof(float) * x.numel());
  });
}

void expect_rejected(const OpCase& broken) {
  const GradCheckResult result = check_gradients(broken, Device::cpu());
  EXPECT_FALSE(result.passed) << "the harness accepted a wrong backward:\n" << result.report;
  std::cout << "rejected on purpose:\n" << result.report;
}

TEST(GradCheckRejects, ReluWithoutMask) {
  expect_rejected({"broken_relu",
                   {{{3, 7}, -1.0f, 1.0f, 0.05f}},
                   [](const std::vector<Tensor>& in) { return relu_without_mask(in[0]); }});
}

TEST(GradCheckRejects, LinearWithHalfWeightGradient) {
  expect_rejected({"broken_linear", {{{4, 5}}, {{3, 5}}}, [](const std::vector<Tensor>& in) {
                     return linear_with_half_weight_grad(in[0], in[1]);
                   }});
}

TEST(GradCheckRejects, BackwardThatOverwritesInsteadOfAccumulating) {
  expect_rejected({"broken_identity", {{{2, 6}}}, [](const std::vector<Tensor>& in) {
                     return ops::add(identity_that_overwrites(in[0]),
                                     identity_that_overwrites(in[0]));
                   }});
}

// The same harness accepts the correct versions of these ops: the rejections above are about
// the backward, not the inputs.
TEST(GradCheckRejects, AcceptsTheCorrectOps) {
  const OpCase relu{"relu", {{{3, 7}, -1.0f, 1.0f, 0.05f}}, [](const std::vector<Tensor>& in) {
                      return ops::relu(in[0]);
                    }};
  const OpCase linear{"linear", {{{4, 5}}, {{3, 5}}}, [](const std::vector<Tensor>& in) {
                        return ops::linear(in[0], in[1]);
                      }};
  EXPECT_TRUE(check_gradients(relu, Device::cpu()).passed);
  EXPECT_TRUE(check_gradients(linear, Device::cpu()).passed);
}

}  // namespace
}  // namespace sav::testing
