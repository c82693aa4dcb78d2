// The tape: order, accumulation, no-grad scopes, retained gradients and the errors.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "sav/autograd.h"
#include "sav/error.h"
#include "sav/ops.h"

namespace sav::testing {
namespace {

Tensor leaf(const Shape& shape, std::vector<float> values) {
  Tensor t = Tensor::from_vector(shape, values);
  t.set_requires_grad();
  return t;
}

// L = mean over the batch of cross-entropy(x W^T): a scalar to call backward on.
Tensor small_loss(const Tensor& x, const Tensor& w) {
  return ops::cross_entropy(ops::linear(x, w), {1, 0});
}

TEST(Autograd, TensorUsedTwiceCollectsBothContributions) {
  // y = x + x, dy/dx = 2 for every element.
  const Tensor x = leaf({3}, {1, 2, 3});
  ops::add(x, x).backward(Tensor::full({3}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 2, 2}));
}

TEST(Autograd, DiamondGraphRunsEachBackwardOnce) {
  // h = relu(x); y = h + h: dy/dx = 2 * (x > 0). A node run twice would give 4.
  const Tensor x = leaf({4}, {-1, 2, -3, 4});
  const Tensor h = ops::relu(x);
  ops::add(h, h).backward(Tensor::full({4}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 2, 0, 2}));
}

TEST(Autograd, LeafGradientsAccumulateUntilZeroed) {
  const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor w = leaf({2, 3}, {0.1f, 0.2f, 0.3f, -0.1f, 0.0f, 0.5f});
  small_loss(x, w).backward();
  const std::vector<float> once = w.grad().to_vector();
  small_loss(x, w).backward();
  const std::vector<float> twice = w.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) EXPECT_FLOAT_EQ(twice[i], 2 * once[i]);
  w.zero_grad();
  EXPECT_EQ(w.grad().to_vector(), std::vector<float>(6, 0.0f));
  small_loss(x, w).backward();
  EXPECT_EQ(w.grad().to_vector(), once);
}

TEST(Autograd, BackwardTwiceOnOneGraphDoesNotCompoundIntermediates) {
  // Non-leaf gradients are fresh each pass, so a second pass adds exactly one more gradient.
  const Tensor x = leaf({2}, {1, -2});
  const Tensor y = ops::relu(ops::add(x, x));
  y.backward(Tensor::full({2}, 1.0f));
  y.backward(Tensor::full({2}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4, 0}));
}

TEST(Autograd, RetainedIntermediateKeepsItsGradient) {
  const Tensor x = leaf({3}, {1, -1, 2});
  Tensor h = ops::add(x, x);
  h.retain_grad();
  Tensor other = ops::add(x, x);  // not retained
  ops::add(ops::relu(h), other).backward(Tensor::full({3}, 1.0f));
  EXPECT_EQ(h.grad().to_vector(), (std::vector<float>{1, 0, 1}));
  EXPECT_FALSE(other.grad().defined());
}

TEST(Autograd, NoGradScopeRecordsNothing) {
  const Tensor x = leaf({2}, {1, 2});
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(grad_enabled());
    const Tensor y = ops::relu(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_THROW(y.backward(Tensor::full({2}, 1.0f)), Error);
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_TRUE(ops::relu(x).requires_grad());
}

TEST(Autograd, OpsOnInputsWithoutGradientRecordNothing) {
  const Tensor x = Tensor::from_vector({2}, {1, 2});
  const Tensor y = ops::relu(x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(Autograd, GradientsReachOnlyTensorsThatAskForThem) {
  const Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});  // data: no gradient
  const Tensor w = leaf({2, 3}, {0.1f, 0.2f, 0.3f, -0.1f, 0.0f, 0.5f});
  small_loss(x, w).backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(w.grad().defined());
}

TEST(Autograd, TapeNamesTheOpsAndKeepsInputs) {
  const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor w = leaf({2, 3}, {1, 0, 0, 0, 1, 0});
  const Tensor loss = small_loss(x, w);
  ASSERT_NE(loss.grad_fn(), nullptr);
  EXPECT_STREQ(loss.grad_fn()->op, "cross_entropy");
  const Tensor& logits = loss.grad_fn()->inputs.at(0);
  EXPECT_STREQ(logits.grad_fn()->op, "linear");
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(logits.is_leaf());
}

// Bytes of tensors alive on the CPU (the backend's pool counts them).
size_t live_bytes() { return backend_for(Device::cpu()).memory_stats().live; }

TEST(Autograd, TapeKeepsOnlyTheValuesBackwardReads) {
  const Tensor x = leaf({1000}, std::vector<float>(1000, 1.0f));
  size_t one_tensor = live_bytes();
  {
    const Tensor probe = Tensor::empty({1000});
    one_tensor = live_bytes() - one_tensor;
  }
  const size_t before = live_bytes();
  // Neither add's backward nor relu's (which reads its output) reads its input: only the
  // result's values stay, not those of the two intermediate sums.
  const Tensor y = ops::relu(ops::add(ops::add(x, x), x));
  EXPECT_EQ(live_bytes() - before, one_tensor);
  ops::reshape(y, {1, 1000}).backward(Tensor::full({1, 1000}, 1.0f));
  EXPECT_EQ(x.grad().to_vector(), std::vector<float>(1000, 3.0f));
}

TEST(Autograd, GradientOnlyHandleHasNoValues) {
  const Tensor x = leaf({2}, {1, 2});
  const Tensor g = x.gradient_only();
  EXPECT_EQ(g.shape(), x.shape());
  EXPECT_EQ(g.impl(), x.impl());
  EXPECT_THROW(g.data(), Error);
  EXPECT_THROW(g.detach(), Error);
  EXPECT_THROW(g.view({1, 2}), Error);
}

TEST(Autograd, BackwardOnNonScalarNamesTheShape) {
  const Tensor x = leaf({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor y = ops::relu(x);
  try {
    y.backward();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("got shape [2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(y.backward(Tensor::full({3, 2}, 1.0f)), Error);
  EXPECT_THROW(y.backward(Tensor()), Error);
}

TEST(Autograd, RequiresGradOnlyOnLeaves) {
  const Tensor x = leaf({2}, {1, 2});
  Tensor y = ops::relu(x);
  EXPECT_THROW(y.set_requires_grad(false), Error);
  Tensor d = y.detach();
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.to_vector(), y.to_vector());
}

TEST(Autograd, DeepChainDoesNotOverflowTheStack) {
  Tensor x = leaf({1}, {1.0f});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = ops::reshape(y, {1});
  y.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1.0f}));
}

}  // namespace
}  // namespace sav::testing
