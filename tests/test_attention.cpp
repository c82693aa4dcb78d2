// The attention op: its probabilities, its output, and the gradient it leaves for attribution.
#include <gtest/gtest.h>

#include <cmath>

#include "reference.h"
#include "sav/autograd.h"
#include "sav/error.h"
#include "sav/ops.h"

namespace sav::testing {
namespace {

constexpr int64_t kBatch = 2, kTokens = 5, kHeads = 2, kHeadDim = 3, kWidth = kHeads * kHeadDim;

struct Inputs {
  std::vector<float> q, k, v;
  Tensor tq, tk, tv;
};

Inputs make(uint32_t seed) {
  Inputs in;
  in.q = random_values(kBatch * kTokens * kWidth, seed, -2, 2);
  in.k = random_values(kBatch * kTokens * kWidth, seed + 1, -2, 2);
  in.v = random_values(kBatch * kTokens * kWidth, seed + 2, -2, 2);
  const Shape shape{kBatch, kTokens, kWidth};
  in.tq = Tensor::from_vector(shape, in.q);
  in.tk = Tensor::from_vector(shape, in.k);
  in.tv = Tensor::from_vector(shape, in.v);
  return in;
}

// Element (b, t, h * head_dim + j) of a [batch, tokens, width] vector.
float at(const std::vector<float>& x, int64_t b, int64_t t, int64_t h, int64_t j) {
  return x[(b * kTokens + t) * kWidth + h * kHeadDim + j];
}

// softmax(Q K^T / sqrt(d_k)) per head, naively, in double: [b][h][query][key].
std::vector<double> naive_probs(const Inputs& in) {
  std::vector<double> probs;
  for (int64_t b = 0; b < kBatch; ++b) {
    for (int64_t h = 0; h < kHeads; ++h) {
      for (int64_t i = 0; i < kTokens; ++i) {
        std::vector<double> row(kTokens);
        double total = 0;
        for (int64_t j = 0; j < kTokens; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < kHeadDim; ++c) dot += at(in.q, b, i, h, c) * at(in.k, b, j, h, c);
          row[j] = std::exp(dot / std::sqrt(double{kHeadDim}));
          total += row[j];
        }
        for (double p : row) probs.push_back(p / total);
      }
    }
  }
  return probs;
}

TEST(Attention, ProbabilityRowsSumToOne) {
  const Inputs in = make(11);
  const auto result = ops::multi_head_attention(in.tq, in.tk, in.tv, kHeads);
  ASSERT_EQ(result.probs.shape(), Shape({kBatch, kHeads, kTokens, kTokens}));
  const auto probs = result.probs.to_vector();
  for (int64_t row = 0; row < kBatch * kHeads * kTokens; ++row) {
    double sum = 0;
    for (int64_t j = 0; j < kTokens; ++j) {
      EXPECT_GE(probs[row * kTokens + j], 0.0f);
      sum += probs[row * kTokens + j];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6) << "row " << row;
  }
}

TEST(Attention, ProbabilitiesEqualNaiveSoftmax) {
  const Inputs in = make(21);
  const auto result = ops::multi_head_attention(in.tq, in.tk, in.tv, kHeads);
  expect_close(result.probs.to_vector(), naive_probs(in), 1e-5);
}

TEST(Attention, OutputIsProbabilitiesTimesValuesWithHeadsMerged) {
  const Inputs in = make(31);
  const auto result = ops::multi_head_attention(in.tq, in.tk, in.tv, kHeads);
  ASSERT_EQ(result.out.shape(), Shape({kBatch, kTokens, kWidth}));
  const std::vector<double> probs = naive_probs(in);
  std::vector<double> expected;
  for (int64_t b = 0; b < kBatch; ++b) {
    for (int64_t i = 0; i < kTokens; ++i) {
      for (int64_t h = 0; h < kHeads; ++h) {
        for (int64_t c = 0; c < kHeadDim; ++c) {
          double sum = 0;
          for (int64_t j = 0; j < kTokens; ++j) {
            sum += probs[((b * kHeads + h) * kTokens + i) * kTokens + j] * at(in.v, b, j, h, c);
          }
          expected.push_back(sum);
        }
      }
    }
  }
  expect_close(result.out.to_vector(), expected, 1e-5);
}

TEST(Attention, OneTokenAttendsOnlyToItself) {
  const Tensor x = Tensor::from_vector({1, 1, 4}, {1, 2, 3, 4});
  const auto result = ops::multi_head_attention(x, x, x, 2);
  EXPECT_EQ(result.probs.to_vector(), (std::vector<float>{1, 1}));
  EXPECT_EQ(result.out.to_vector(), x.to_vector());
}

// dL/dA, kept in probs.grad() for attribution. With L = sum(out * R) and out = A V per head,
// dL/dA[b, h, i, j] = sum_c R[b, i, h, c] V[b, j, h, c].
TEST(Attention, RetainedProbabilityGradientIsDOutTimesV) {
  const Inputs in = make(41);
  Tensor q = in.tq, k = in.tk, v = in.tv;
  q.set_requires_grad();
  k.set_requires_grad();
  v.set_requires_grad();
  auto result = ops::multi_head_attention(q, k, v, kHeads);
  result.probs.retain_grad();
  const auto r = random_values(kBatch * kTokens * kWidth, 99);
  result.out.backward(Tensor::from_vector(result.out.shape(), r));
  ASSERT_TRUE(result.probs.grad().defined());
  std::vector<double> expected;
  for (int64_t b = 0; b < kBatch; ++b)
    for (int64_t h = 0; h < kHeads; ++h)
      for (int64_t i = 0; i < kTokens; ++i)
        for (int64_t j = 0; j < kTokens; ++j) {
          double sum = 0;
          for (int64_t c = 0; c < kHeadDim; ++c) sum += at(r, b, i, h, c) * at(in.v, b, j, h, c);
          expected.push_back(sum);
        }
  expect_close(result.probs.grad().to_vector(), expected, 1e-5);
}

// The same gradient against central differences: L(A) = sum(R * merge(A V)) evaluated in double
// with one probability perturbed at a time, next to the op's dL/dA.
TEST(Attention, RetainedProbabilityGradientMatchesCentralDifferences) {
  const Inputs in = make(43);
  Tensor q = in.tq;
  q.set_requires_grad();
  auto result = ops::multi_head_attention(q, in.tk, in.tv, kHeads);
  result.probs.retain_grad();
  const auto r = random_values(kBatch * kTokens * kWidth, 98);
  result.out.backward(Tensor::from_vector(result.out.shape(), r));
  const std::vector<float> analytic = result.probs.grad().to_vector();
  std::vector<double> probs(naive_probs(in));
  auto loss = [&] {
    double total = 0;
    for (int64_t b = 0; b < kBatch; ++b)
      for (int64_t h = 0; h < kHeads; ++h)
        for (int64_t i = 0; i < kTokens; ++i)
          for (int64_t c = 0; c < kHeadDim; ++c) {
            double o = 0;
            for (int64_t j = 0; j < kTokens; ++j) {
              o += probs[((b * kHeads + h) * kTokens + i) * kTokens + j] * at(in.v, b, j, h, c);
            }
            total += at(r, b, i, h, c) * o;
          }
    return total;
  };
  const double step = 1e-4;
  for (size_t e = 0; e < probs.size(); ++e) {
    const double original = probs[e];
    probs[e] = original + step;
    const double up = loss();
    probs[e] = original - step;
    const double down = loss();
    probs[e] = original;
    EXPECT_NEAR(analytic[e], (up - down) / (2 * step), 1e-5) << "probability " << e;
  }
}

TEST(Attention, ProbabilitiesHaveNoGradientUnlessRetained) {
  Inputs in = make(51);
  in.tq.set_requires_grad();
  auto result = ops::multi_head_attention(in.tq, in.tk, in.tv, kHeads);
  result.out.backward(Tensor::full(result.out.shape(), 1.0f));
  EXPECT_FALSE(result.probs.grad().defined());
  EXPECT_TRUE(in.tq.grad().defined());
}

TEST(Attention, RejectsBadShapes) {
  const Tensor x = Tensor::zeros({2, 5, 6});
  try {
    ops::multi_head_attention(x, x, x, 4);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "multi_head_attention: 4 heads do not divide the model width 6 of q [2, 5, 6]");
  }
  EXPECT_THROW(ops::multi_head_attention(x, Tensor::zeros({2, 4, 6}), x, 2), Error);
  EXPECT_THROW(ops::multi_head_attention(Tensor::zeros({5, 6}), x, x, 2), Error);
  EXPECT_THROW(ops::multi_head_attention(x, x, x, 0), Error);
}

}  // namespace
}  // namespace sav::testing
