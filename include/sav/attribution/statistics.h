// Summaries for the faithfulness report: the area under each image's deletion and insertion
// curve, the mean of those per-image AUCs with a 95 % confidence interval, the paired
// difference of a method against the random baseline on the same images, and the rank
// correlation that the sanity check of Adebayo et al. (2018) compares a map with the map of a
// randomized model by. Plain host arithmetic in double; invalid input throws sav::Error.
#pragma once

#include <cstdint>
#include <vector>

namespace sav::attribution {

// The p-quantile of Student's t distribution with the given degrees of freedom: p in (0, 1),
// degrees_of_freedom >= 1. Accurate to about 1e-10: the CDF through the regularized incomplete
// beta function, inverted by safeguarded Newton steps; above 1e5 degrees of freedom, the
// Cornish-Fisher expansion about the normal quantile. Throws where |t| would pass 1e150 (p below
// about 1e-150 with 1 or 2 degrees of freedom).
double student_t_quantile(double p, int64_t degrees_of_freedom);

// A sample mean and the two ends of its confidence interval; count = the sample size.
struct MeanInterval {
  double mean = 0, low = 0, high = 0;
  int64_t count = 0;
};

// The mean of values and its two-sided Student-t interval at confidence c,
// mean +- t_{(1 + c) / 2, n - 1} s / sqrt(n), s the sample standard deviation (n - 1 in its
// denominator). One value gives low = high = mean. values: non-empty and finite; confidence:
// in (0, 1).
MeanInterval mean_confidence_interval(const std::vector<double>& values, double confidence = 0.95);

// The interval of the mean of a[i] - b[i] (paired samples: the same images under two methods);
// a and b of equal size.
MeanInterval paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                               double confidence = 0.95);

// The trapezoid-rule area under a curve sampled at x = i / (n - 1), i = 0 .. n - 1, on [0, 1];
// n >= 2.
double trapezoid_auc(const std::vector<double>& curve);

// Spearman's rank correlation of a and b (equal size, >= 2, finite): the Pearson correlation of
// their ranks, tied values sharing the average of their ranks. Returns 0 when either input is
// constant: a constant map ranks nothing, so it neither agrees nor disagrees with the other.
double spearman_correlation(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace sav::attribution
