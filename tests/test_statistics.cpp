// The report's statistics: Student-t quantiles against table values, the mean's confidence
// interval, paired differences, the trapezoid AUC and Spearman's correlation with ties.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "sav/attribution/statistics.h"
#include "sav/error.h"

namespace sav::testing {
namespace {

using attribution::MeanInterval;
using attribution::student_t_quantile;

constexpr double kQuantileTolerance = 1e-6;

TEST(Statistics, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062047, kQuantileTolerance);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.3026527, kQuantileTolerance);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764451, kQuantileTolerance);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.2281389, kQuantileTolerance);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0422725, kQuantileTolerance);
  EXPECT_NEAR(student_t_quantile(0.95, 5), 2.0150484, kQuantileTolerance);
}

TEST(Statistics, StudentTQuantileIsSymmetricAboutZero) {
  for (int64_t df : {1, 3, 7, 50}) {
    EXPECT_EQ(student_t_quantile(0.5, df), 0.0) << "df " << df;
  }
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.7764451, kQuantileTolerance);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -student_t_quantile(0.975, 4), 1e-12);
}

TEST(Statistics, StudentTQuantileApproachesNormalForLargeDegreesOfFreedom) {
  // The standard normal's 0.975 quantile; t_{0.975, 100000} exceeds it by about 2.4e-5.
  EXPECT_NEAR(student_t_quantile(0.975, 100000), 1.959964, 1e-4);
}

TEST(Statistics, StudentTQuantileMatchesClosedFormsInTheTails) {
  // One degree of freedom is the Cauchy distribution, t_p = -cot(pi p); two give
  // t_p = (2p - 1) / sqrt(2 p (1 - p)).
  constexpr double kPi = 3.14159265358979323846;
  for (double p : {1e-12, 1e-6, 0.01, 0.2, 0.45}) {
    const double cauchy = -1 / std::tan(kPi * p);
    EXPECT_NEAR(student_t_quantile(p, 1), cauchy, 1e-12 * std::fabs(cauchy)) << "p " << p;
    // 1 - p rounds; its exact complement 1 - (1 - p) is what the upper quantile answers to.
    const double upper = 1 - p, upper_cauchy = 1 / std::tan(kPi * (1 - upper));
    EXPECT_NEAR(student_t_quantile(upper, 1), upper_cauchy, 1e-12 * upper_cauchy) << "p " << p;
    const double two = (2 * p - 1) / std::sqrt(2 * p * (1 - p));
    EXPECT_NEAR(student_t_quantile(p, 2), two, 1e-12 * std::fabs(two)) << "p " << p;
  }
}

TEST(Statistics, StudentTQuantileIsContinuousWhereTheLargeDfExpansionTakesOver) {
  // Reference values from mpmath (40 digits) inverting I_x(v / 2, 1 / 2); above 1e5 degrees of
  // freedom the quantile comes from the Cornish-Fisher expansion instead.
  EXPECT_NEAR(student_t_quantile(0.975, 100000), 1.9599877075346096, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.975, 1000000), 1.9599663568141070, 1e-9);
  EXPECT_NEAR(student_t_quantile(1e-6, 1000000), -4.7534523482796808, 1e-9);
  const double below = student_t_quantile(0.995, 100000), above = student_t_quantile(0.995, 100001);
  EXPECT_GT(below, above);  // the quantile falls as the tails thin
  EXPECT_LT(below - above, 1e-9);
}

TEST(Statistics, StudentTQuantileRejectsInvalidArguments) {
  EXPECT_THROW(student_t_quantile(0.0, 5), sav::Error);
  EXPECT_THROW(student_t_quantile(1.0, 5), sav::Error);
  EXPECT_THROW(student_t_quantile(std::nan(""), 5), sav::Error);
  EXPECT_THROW(student_t_quantile(0.9, 0), sav::Error);
}

TEST(Statistics, MeanConfidenceIntervalOfFiveValues) {
  // s = sqrt(10 / 4) = 1.5811388; half-width = 2.7764451 * 1.5811388 / sqrt(5) = 1.9632432.
  const MeanInterval interval = attribution::mean_confidence_interval({1, 2, 3, 4, 5});
  EXPECT_EQ(interval.count, 5);
  EXPECT_NEAR(interval.mean, 3.0, 1e-12);
  EXPECT_NEAR(interval.low, 1.0367568, kQuantileTolerance);
  EXPECT_NEAR(interval.high, 4.9632432, kQuantileTolerance);
}

TEST(Statistics, MeanConfidenceIntervalOfOneValueIsThePoint) {
  const MeanInterval interval = attribution::mean_confidence_interval({0.25});
  EXPECT_EQ(interval.count, 1);
  EXPECT_EQ(interval.mean, 0.25);
  EXPECT_EQ(interval.low, 0.25);
  EXPECT_EQ(interval.high, 0.25);
}

TEST(Statistics, MeanConfidenceIntervalRejectsInvalidInput) {
  EXPECT_THROW(attribution::mean_confidence_interval({}), sav::Error);
  EXPECT_THROW(attribution::mean_confidence_interval({1, 2}, 1.5), sav::Error);
  EXPECT_THROW(attribution::mean_confidence_interval({1, 2}, 0.0), sav::Error);
  EXPECT_THROW(attribution::mean_confidence_interval({1, INFINITY}), sav::Error);
}

TEST(Statistics, PairedDifferenceIsTheIntervalOfTheDifferences) {
  // Differences {2, 3, 4}: mean 3, s = 1, half-width t_{0.975, 2} * 1 / sqrt(3).
  const MeanInterval interval = attribution::paired_difference({3, 5, 7}, {1, 2, 3});
  const double half_width = 4.3026527 / std::sqrt(3.0);
  EXPECT_EQ(interval.count, 3);
  EXPECT_NEAR(interval.mean, 3.0, 1e-12);
  EXPECT_NEAR(interval.low, 3.0 - half_width, kQuantileTolerance);
  EXPECT_NEAR(interval.high, 3.0 + half_width, kQuantileTolerance);
}

TEST(Statistics, PairedDifferenceRejectsSizeMismatch) {
  EXPECT_THROW(attribution::paired_difference({1, 2, 3}, {1, 2}), sav::Error);
}

TEST(Statistics, TrapezoidAuc) {
  EXPECT_NEAR(attribution::trapezoid_auc({1, 1, 1, 1}), 1.0, 1e-12);
  std::vector<double> line(65);
  for (size_t i = 0; i < line.size(); ++i) line[i] = double(i) / double(line.size() - 1);
  EXPECT_NEAR(attribution::trapezoid_auc(line), 0.5, 1e-12);
  EXPECT_NEAR(attribution::trapezoid_auc({1, 0}), 0.5, 1e-12);
  // Not the plain mean of the samples (which would be 1 / 3): the ends weigh half.
  EXPECT_NEAR(attribution::trapezoid_auc({0, 0, 1}), 0.25, 1e-12);
  EXPECT_THROW(attribution::trapezoid_auc({1}), sav::Error);
}

TEST(Statistics, SpearmanOfMonotoneRelations) {
  const std::vector<float> x = {-2.0f, -1.0f, 0.5f, 1.0f, 3.0f};
  const std::vector<float> reversed = {3.0f, 1.0f, 0.5f, -1.0f, -2.0f};
  std::vector<float> cubed;
  for (float v : x) cubed.push_back(v * v * v);
  EXPECT_NEAR(attribution::spearman_correlation(x, x), 1.0, 1e-12);
  EXPECT_NEAR(attribution::spearman_correlation(x, reversed), -1.0, 1e-12);
  EXPECT_NEAR(attribution::spearman_correlation(x, cubed), 1.0, 1e-12);
}

TEST(Statistics, SpearmanAveragesTiedRanks) {
  // a = {1, 2, 2, 3} ranks {1, 2.5, 2.5, 4}; b = {1, 3, 2, 4} ranks {1, 3, 2, 4}; both mean 2.5.
  // Deviations: a {-1.5, 0, 0, 1.5}, b {-1.5, 0.5, -0.5, 1.5}.
  // Covariance sum 2.25 + 0 + 0 + 2.25 = 4.5; a's squares 4.5; b's 2.25 + 0.25 + 0.25 + 2.25 = 5.
  // rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9) = 0.9486833.
  EXPECT_NEAR(attribution::spearman_correlation({1, 2, 2, 3}, {1, 3, 2, 4}), std::sqrt(0.9), 1e-12);
}

TEST(Statistics, SpearmanOfAConstantMapIsZero) {
  EXPECT_EQ(attribution::spearman_correlation({2, 2, 2}, {1, 2, 3}), 0.0);
  EXPECT_EQ(attribution::spearman_correlation({1, 2, 3}, {5, 5, 5}), 0.0);
}

TEST(Statistics, SpearmanRejectsBadSizes) {
  EXPECT_THROW(attribution::spearman_correlation({1, 2, 3}, {1, 2}), sav::Error);
  EXPECT_THROW(attribution::spearman_correlation({1}, {1}), sav::Error);
}

}  // namespace
}  // namespace sav::testing
