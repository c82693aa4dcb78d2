// Forward values of each op against straightforward double-precision loops or hand-worked
// numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "reference.h"
#include "sav/error.h"
#include "sav/ops.h"
#include "sav/random.h"

namespace sav::testing {
namespace {

TEST(Linear, MatchesLoopsOverLeadingDims) {
  const int64_t b = 2, t = 3, in = 5, out = 4;
  const auto xv = random_values(b * t * in, 1), wv = random_values(out * in, 2),
             bv = random_values(out, 3);
  const Tensor y = ops::linear(Tensor::from_vector({b, t, in}, xv),
                               Tensor::from_vector({out, in}, wv), Tensor::from_vector({out}, bv));
  ASSERT_EQ(y.shape(), Shape({b, t, out}));
  std::vector<double> expected;
  for (int64_t r = 0; r < b * t; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = bv[o];
      for (int64_t i = 0; i < in; ++i) sum += double{xv[r * in + i]} * wv[o * in + i];
      expected.push_back(sum);
    }
  }
  expect_close(y.to_vector(), expected, 1e-5);
}

TEST(Linear, HandWorked) {
  // [1 2] · [[1 0] [1 1] [0 2]]^T + [0.5 0 -1] = [1.5 3 3]
  const Tensor y = ops::linear(Tensor::from_vector({1, 2}, {1, 2}),
                               Tensor::from_vector({3, 2}, {1, 0, 1, 1, 0, 2}),
                               Tensor::from_vector({3}, {0.5f, 0, -1}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1.5f, 3.0f, 3.0f}));
}

TEST(Linear, RejectsMismatchedShapes) {
  const Tensor x = Tensor::zeros({2, 3, 5});
  try {
    ops::linear(x, Tensor::zeros({4, 6}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "linear: input [2, 3, 5] has 5 features but weight [4, 6] takes 6");
  }
  EXPECT_THROW(ops::linear(x, Tensor::zeros({4, 5}), Tensor::zeros({3})), Error);
  EXPECT_THROW(ops::linear(x, Tensor::zeros({20})), Error);
  EXPECT_THROW(ops::linear(x, Tensor()), Error);
}

TEST(Add, SameShapeAndBroadcast) {
  const Tensor a = Tensor::from_vector({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(ops::add(a, a).to_vector(), (std::vector<float>{2, 4, 6, 8, 10, 12, 14, 16}));
  const Tensor rows = Tensor::from_vector({2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(ops::add(a, rows).to_vector(), (std::vector<float>{11, 22, 33, 44, 15, 26, 37, 48}));
  const Tensor row = Tensor::from_vector({2}, {100, 200});
  EXPECT_EQ(ops::add(a, row).to_vector(),
            (std::vector<float>{101, 202, 103, 204, 105, 206, 107, 208}));
  EXPECT_THROW(ops::add(a, Tensor::zeros({2, 3})), Error);
  EXPECT_THROW(ops::add(rows, a), Error);
}

TEST(LayerNorm, MatchesDoublePrecision) {
  const int64_t rows = 5, d = 7;
  const auto xv = random_values(rows * d, 4, -3, 3), wv = random_values(d, 5),
             bv = random_values(d, 6);
  const Tensor y = ops::layernorm(Tensor::from_vector({rows, d}, xv), Tensor::from_vector({d}, wv),
                                  Tensor::from_vector({d}, bv), 1e-5f);
  std::vector<double> expected;
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < d; ++j) mean += xv[r * d + j];
    mean /= d;
    for (int64_t j = 0; j < d; ++j) var += (xv[r * d + j] - mean) * (xv[r * d + j] - mean);
    var /= d;  // biased, as the paper's eq. 8 and PyTorch
    for (int64_t j = 0; j < d; ++j) {
      expected.push_back((xv[r * d + j] - mean) / std::sqrt(var + 1e-5) * wv[j] + bv[j]);
    }
  }
  expect_close(y.to_vector(), expected, 1e-5);
}

TEST(LayerNorm, HandWorked) {
  // x = [1, 3]: mean 2, var 1, so (x - mean) / sqrt(1 + eps) = [-1, 1] (eps tiny).
  const Tensor y =
      ops::layernorm(Tensor::from_vector({1, 2}, {1, 3}), Tensor::from_vector({2}, {2, 3}),
                     Tensor::from_vector({2}, {0, 1}), 1e-12f);
  expect_close(y.to_vector(), {-2.0, 4.0}, 1e-6);
}

TEST(LayerNorm, RejectsWrongParameterShape) {
  EXPECT_THROW(ops::layernorm(Tensor::zeros({2, 4}), Tensor::zeros({3}), Tensor::zeros({4})),
               Error);
  EXPECT_THROW(ops::layernorm(Tensor::zeros({2, 4}), Tensor::zeros({4}), Tensor::zeros({4}), 0.0f),
               Error);
}

TEST(Relu, ZeroesNegatives) {
  const Tensor y = ops::relu(Tensor::from_vector({5}, {-2, -0.0f, 0, 0.5f, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 0, 0, 0.5f, 3}));
}

// x * Phi(x) in double, as PyTorch's gelu(approximate='none') defines it.
double gelu_exact(double x) { return x * 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); }

TEST(Gelu, MatchesDoublePrecisionErf) {
  // Every 2^-10 over [-8, 8] (16,385 values), the range activations live in and both tails.
  std::vector<float> xv;
  for (int i = -8 * 1024; i <= 8 * 1024; ++i) xv.push_back(static_cast<float>(i) / 1024.0f);
  const std::vector<float> y =
      ops::gelu(Tensor::from_vector({static_cast<int64_t>(xv.size())}, xv)).to_vector();
  std::vector<double> expected;
  for (const float x : xv) expected.push_back(gelu_exact(x));
  // Within 1e-6 of max(1, |gelu(x)|): a few float ulps where |gelu(x)| >= 1, and 1e-6 absolute
  // below; measured: 1.2e-7.
  expect_close(y, expected, 1e-6);
}

TEST(Gelu, LowerTailIsRelativelyAccurate) {
  // gelu(x) for x in [-9, -2] falls from -0.045 to -1e-18: the kernels take Phi(x) from erfc, so
  // the relative error stays small where 1 + erf(x / sqrt(2)) would cancel to nothing in float.
  std::vector<float> xv;
  for (int i = -9 * 256; i <= -2 * 256; ++i) xv.push_back(static_cast<float>(i) / 256.0f);
  const std::vector<float> y =
      ops::gelu(Tensor::from_vector({static_cast<int64_t>(xv.size())}, xv)).to_vector();
  double worst = 0.0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double exact = 0.5 * xv[i] * std::erfc(-xv[i] / std::sqrt(2.0));
    worst = std::max(worst, std::fabs(y[i] - exact) / std::fabs(exact));
  }
  // Measured: 5.8e-6, the float rounding of x / sqrt(2) and its square inside exp (glibc's
  // erfcf gives 4.4e-6); 1 + erf(x / sqrt(2)) in float would be off by 100% from x = -6 on.
  EXPECT_LT(worst, 2e-5);
}

TEST(Gelu, GradientMatchesDoublePrecision) {
  // The backward pass on its own, against gelu'(x) = Phi(x) + x * phi(x) in double (the gradient
  // check holds it to 1e-3 only, the limit of central differences in float).
  const auto xv = random_values(4096, 9, -6.0f, 6.0f);
  const Tensor x = Tensor::from_vector({4096}, xv).set_requires_grad();
  ops::gelu(x).backward(Tensor::full({4096}, 1.0f));
  std::vector<double> expected;
  for (const float v : xv) {
    const double cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
    expected.push_back(cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI));
  }
  expect_close(x.grad().to_vector(), expected, 1e-6);  // measured: 1.8e-7
}

TEST(Gelu, HandWorkedAndSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> y =
      ops::gelu(Tensor::from_vector({6}, {0.0f, -0.0f, 1.0f, -1.0f, inf, std::nanf("")}))
          .to_vector();
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_NEAR(y[2], 0.841344746, 1e-7);   // Phi(1) = 0.8413447460685429
  EXPECT_NEAR(y[3], -0.158655254, 1e-7);  // -(1 - Phi(1))
  EXPECT_EQ(y[4], inf);
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_THROW(ops::gelu(Tensor()), Error);
}

TEST(Dropout, KeepsAboutOneMinusPAndScalesSurvivors) {
  const int64_t n = 100000;
  const float p = 0.1f;
  const Tensor x = Tensor::full({n}, 2.0f);
  const std::vector<float> y = ops::dropout(x, p, 42, 0).to_vector();
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] != 0.0f) {
      ++kept;
      EXPECT_FLOAT_EQ(y[i], 2.0f / (1.0f - p));
    }
    EXPECT_EQ(y[i] != 0.0f, dropout_keeps(42, 0, i, p)) << "element " << i;
  }
  // Binomial(n, 0.9): standard deviation about 95; 5 standard deviations.
  EXPECT_NEAR(static_cast<double>(kept), 0.9 * n, 5 * std::sqrt(n * p * (1 - p)));
}

TEST(Dropout, SameArgumentsSameMaskOtherStreamOtherMask) {
  const Tensor x = Tensor::full({4096}, 1.0f);
  const auto first = ops::dropout(x, 0.5f, 7, 3).to_vector();
  EXPECT_EQ(first, ops::dropout(x, 0.5f, 7, 3).to_vector());
  EXPECT_NE(first, ops::dropout(x, 0.5f, 7, 4).to_vector());
  EXPECT_NE(first, ops::dropout(x, 0.5f, 8, 3).to_vector());
}

TEST(Dropout, ZeroIsIdentityAndInvalidProbabilitiesAreRejected) {
  const Tensor x = Tensor::from_vector({3}, {1, 2, 3});
  EXPECT_EQ(ops::dropout(x, 0.0f, 1, 1).to_vector(), x.to_vector());
  EXPECT_THROW(ops::dropout(x, 1.0f, 1, 1), Error);
  EXPECT_THROW(ops::dropout(x, -0.1f, 1, 1), Error);
  EXPECT_THROW(ops::dropout(x, std::nanf(""), 1, 1), Error);
}

// A batch split into shares (as ranks split a global batch) drops, share by share, what the
// whole batch drops, forward and backward: with rows of 9 values (shares that start inside a
// Philox block of four) and of 4,100 (shares on a block's edge, the vectorised path).
TEST(Dropout, RowsOfALargerBatchTakeThatBatchsMask) {
  for (const int64_t row : {int64_t{9}, int64_t{4100}}) {
    const int64_t rows = 7;
    std::vector<float> values(rows * row);
    for (size_t i = 0; i < values.size(); ++i) values[i] = 1.0f + static_cast<float>(i % 13);
    const std::vector<float> whole =
        ops::dropout(Tensor::from_vector({rows, row}, values), 0.3f, 11, 2).to_vector();
    for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, 3}, {3, 1}, {4, 3}}) {
      const std::vector<float> part(values.begin() + first * row,
                                    values.begin() + (first + count) * row);
      Tensor x = Tensor::from_vector({count, row}, part);
      x.set_requires_grad();
      const Tensor y = ops::dropout(x, 0.3f, 11, 2, first);
      const std::vector<float> expected(whole.begin() + first * row,
                                        whole.begin() + (first + count) * row);
      EXPECT_EQ(y.to_vector(), expected) << "rows " << first << ".." << first + count;
      y.backward(Tensor::full({count, row}, 1.0f));
      // The gradient is the mask times 1 / (1 - p): where the output kept the input.
      const std::vector<float> grad = x.grad().to_vector();
      for (size_t i = 0; i < grad.size(); ++i) {
        ASSERT_EQ(grad[i] != 0.0f, expected[i] != 0.0f) << "row " << first << ", value " << i;
      }
    }
  }
  EXPECT_THROW(ops::dropout(Tensor::full({2}, 1.0f), 0.5f, 1, 1, -1), Error);
}

TEST(Tokens, SliceAndConcatPlaceEveryValue) {
  // x[b, t, j] = 100 b + 10 t + j
  std::vector<float> xv;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 4; ++t)
      for (int j = 0; j < 3; ++j) xv.push_back(100.0f * b + 10.0f * t + j);
  const Tensor x = Tensor::from_vector({2, 4, 3}, xv);
  const Tensor s = ops::slice_tokens(x, 1, 2);
  ASSERT_EQ(s.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(s.to_vector(),
            (std::vector<float>{10, 11, 12, 20, 21, 22, 110, 111, 112, 120, 121, 122}));

  const Tensor cls = Tensor::from_vector({1, 1, 3}, {-1, -2, -3});
  const Tensor c = ops::concat_tokens(cls, s);
  ASSERT_EQ(c.shape(), Shape({2, 3, 3}));
  EXPECT_EQ(c.to_vector(), (std::vector<float>{-1, -2, -3, 10, 11, 12, 20, 21, 22,  //
                                               -1, -2, -3, 110, 111, 112, 120, 121, 122}));
  EXPECT_THROW(ops::slice_tokens(x, 3, 2), Error);
  EXPECT_THROW(ops::slice_tokens(x, -1, 1), Error);
  EXPECT_THROW(ops::concat_tokens(cls, Tensor::zeros({2, 2, 4})), Error);
  EXPECT_THROW(ops::concat_tokens(Tensor::zeros({3, 1, 3}), s), Error);
}

TEST(Reshape, KeepsValuesAndChecksCount) {
  const Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor y = ops::reshape(x, {3, 2});
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  EXPECT_THROW(ops::reshape(x, {4, 2}), Error);
}

TEST(CrossEntropy, MatchesLogSumExp) {
  const int64_t batch = 3, classes = 4;
  const auto zv = random_values(batch * classes, 8, -5, 5);
  const std::vector<int32_t> labels = {3, 0, 1};
  const float loss = ops::cross_entropy(Tensor::from_vector({batch, classes}, zv), labels).item();
  double expected = 0;
  for (int64_t i = 0; i < batch; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(double{zv[i * classes + j]});
    expected += std::log(sum) - zv[i * classes + labels[i]];
  }
  EXPECT_NEAR(loss, expected / batch, 1e-5);
}

TEST(CrossEntropy, UniformLogitsGiveLogClasses) {
  const Tensor logits = Tensor::full({2, 10}, 3.0f);
  EXPECT_NEAR(ops::cross_entropy(logits, {1, 9}).item(), std::log(10.0), 1e-6);
}

TEST(CrossEntropy, StableForLargeLogits) {
  const Tensor logits = Tensor::from_vector({1, 2}, {1000.0f, 0.0f});
  EXPECT_NEAR(ops::cross_entropy(logits, {0}).item(), 0.0, 1e-6);
  EXPECT_NEAR(ops::cross_entropy(logits, {1}).item(), 1000.0, 1e-3);
}

TEST(CrossEntropy, RejectsBadLabels) {
  const Tensor logits = Tensor::zeros({2, 3});
  try {
    ops::cross_entropy(logits, {0, 3});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cross_entropy: label 3 at index 1 is outside [0, 3)");
  }
  EXPECT_THROW(ops::cross_entropy(logits, {0}), Error);
  EXPECT_THROW(ops::cross_entropy(logits, {-1, 0}), Error);
  EXPECT_THROW(ops::cross_entropy(Tensor::zeros({2, 3, 1}), std::vector<int32_t>{0, 0}), Error);
}

}  // namespace
}  // namespace sav::testing
