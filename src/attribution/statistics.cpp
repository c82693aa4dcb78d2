#include "sav/attribution/statistics.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>

#include "sav/error.h"

namespace sav::attribution {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Above this the quantile comes from an expansion in 1 / v rather than the t CDF.
constexpr double kLargeDegreesOfFreedom = 1e5;

// I_x(a, b) by its continued fraction (modified Lentz), valid where x < (a + 1) / (a + b + 2);
// one_minus_x is passed separately so that x near 1 keeps its precision in log(1 - x).
double incomplete_beta_fraction(double a, double b, double x, double one_minus_x) {
  constexpr double kTiny = 1e-300, kEpsilon = 1e-16;
  // log1p of the complement where x is near 1: a log(x) with a = v / 2 amplifies its error.
  const double log_x = x > 0.5 ? std::log1p(-one_minus_x) : std::log(x);
  const double log_one_minus_x = x < 0.5 ? std::log1p(-x) : std::log(one_minus_x);
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * log_x + b * log_one_minus_x;
  // The fraction needs O(sqrt(max(a, b))) terms near the switch point.
  const int max_terms = 1000 + static_cast<int>(20 * std::sqrt(a + b));
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
  double fraction = d;
  for (int m = 1; m <= max_terms; ++m) {
    for (int half = 0; half < 2; ++half) {
      // d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)), d_{2m+1} = -(a + m)(a + b + m) x / (...)
      const double numerator = half == 0
                                   ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                   : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
      d = 1 + numerator * d;
      d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
      c = 1 + numerator / c;
      if (std::fabs(c) < kTiny) c = kTiny;
      fraction *= c * d;
      if (half == 1 && std::fabs(c * d - 1) < kEpsilon) return std::exp(log_front) * fraction / a;
    }
  }
  fail("student_t_quantile: the incomplete beta fraction for a = ", a, ", b = ", b, ", x = ", x,
       " did not converge in ", max_terms, " terms");
}

double regularized_incomplete_beta(double a, double b, double x, double one_minus_x) {
  if (x <= 0) return 0;
  if (one_minus_x <= 0) return 1;
  if (x < (a + 1) / (a + b + 2)) return incomplete_beta_fraction(a, b, x, one_minus_x);
  return 1 - incomplete_beta_fraction(b, a, one_minus_x, x);
}

// P(T > t) for t >= 0: I_{v / (v + t^2)}(v / 2, 1 / 2) / 2.
double t_upper_tail(double t, double v) {
  const double t2 = t * t;
  return 0.5 * regularized_incomplete_beta(v / 2, 0.5, v / (v + t2), t2 / (v + t2));
}

double t_density(double t, double v) {
  return std::exp(std::lgamma((v + 1) / 2) - std::lgamma(v / 2) - 0.5 * std::log(v * kPi) -
                  (v + 1) / 2 * std::log1p(t * t / v));
}

// The t >= 0 where a decreasing upper_tail(t) equals tail in (0, 0.5): Newton steps (the
// derivative is -density), kept inside a shrinking bracket by bisection.
template <typename UpperTail, typename Density>
double invert_upper_tail(double tail, UpperTail upper_tail, Density density) {
  double low = 0, high = 1;
  while (upper_tail(high) > tail) {
    low = high;
    high *= 2;
  }
  double t = (low + high) / 2;
  for (int iteration = 0; iteration < 200; ++iteration) {
    const double excess = upper_tail(t) - tail;
    if (excess == 0) break;
    (excess > 0 ? low : high) = t;
    double next = t + excess / density(t);
    if (!(next > low && next < high)) next = (low + high) / 2;
    const bool converged = std::fabs(next - t) <= 1e-15 * std::max(1.0, t);
    t = next;
    if (converged || high - low <= 1e-15 * std::max(1.0, t)) break;
  }
  return t;
}

MeanInterval interval_of(const std::vector<double>& values, double confidence, const char* where) {
  if (values.empty()) fail(where, ": no values (need at least one)");
  if (!(confidence > 0 && confidence < 1)) {
    fail(where, ": confidence ", confidence, " is outside (0, 1) (use e.g. 0.95)");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) fail(where, ": value ", i, " is ", values[i], " (not finite)");
  }
  const double n = static_cast<double>(values.size());
  MeanInterval result;
  result.count = static_cast<int64_t>(values.size());
  result.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  result.low = result.high = result.mean;
  if (values.size() == 1) return result;
  double squares = 0;  // two passes: the deviations, not sum x^2 - n mean^2, to avoid cancellation
  for (double v : values) squares += (v - result.mean) * (v - result.mean);
  const double standard_error = std::sqrt(squares / (n - 1) / n);
  const double half_width =
      student_t_quantile((1 + confidence) / 2, result.count - 1) * standard_error;
  result.low = result.mean - half_width;
  result.high = result.mean + half_width;
  return result;
}

// 1-based ranks, ties sharing the mean of the ranks they span.
std::vector<double> average_ranks(const std::vector<float>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return values[i] < values[j]; });
  std::vector<double> ranks(values.size());
  for (size_t start = 0; start < order.size();) {
    size_t end = start + 1;
    while (end < order.size() && values[order[end]] == values[order[start]]) ++end;
    const double rank = (double(start) + double(end - 1)) / 2 + 1;
    for (size_t k = start; k < end; ++k) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

}  // namespace

double student_t_quantile(double p, int64_t degrees_of_freedom) {
  if (!(p > 0 && p < 1)) fail("student_t_quantile: probability ", p, " is outside (0, 1)");
  if (degrees_of_freedom < 1) {
    fail("student_t_quantile: degrees of freedom ", degrees_of_freedom, " (need at least 1)");
  }
  if (p == 0.5) return 0;
  const double v = static_cast<double>(degrees_of_freedom);
  // Solve for the upper tail q = min(p, 1 - p) on t >= 0, then restore the sign: 1 - p is exact
  // for p >= 0.5, and working in the tail keeps precision where p is close to 1.
  const double tail = std::min(p, 1 - p);
  double t = 0;
  if (v <= kLargeDegreesOfFreedom) {
    // Past |t| = 1e150 (p below about 1e-150 with 1 or 2 degrees of freedom) t * t overflows.
    if (t_upper_tail(1e150, v) > tail) {
      fail("student_t_quantile: probability ", p, " with ", degrees_of_freedom,
           " degrees of freedom lies beyond |t| = 1e150, past what this computation resolves");
    }
    t = invert_upper_tail(
        tail, [v](double x) { return t_upper_tail(x, v); },
        [v](double x) { return t_density(x, v); });
  } else {
    // lgamma(v / 2) is too large here for the beta function's front factor to keep 1e-8; the
    // Cornish-Fisher expansion about the normal quantile z (Abramowitz and Stegun 26.7.5) is
    // exact to far below that instead.
    const double z = invert_upper_tail(
        tail, [](double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); },
        [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * kPi); });
    const double z2 = z * z;
    const double g1 = (z2 + 1) * z / 4;
    const double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
    const double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
    const double g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160;
    t = z + (g1 + (g2 + (g3 + g4 / v) / v) / v) / v;
  }
  return p > 0.5 ? t : -t;
}

MeanInterval mean_confidence_interval(const std::vector<double>& values, double confidence) {
  return interval_of(values, confidence, "mean_confidence_interval");
}

MeanInterval paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                               double confidence) {
  if (a.size() != b.size()) {
    fail("paired_difference: ", a.size(), " values against ", b.size(),
         " (pairs need the same images in both)");
  }
  std::vector<double> differences(a.size());
  for (size_t i = 0; i < a.size(); ++i) differences[i] = a[i] - b[i];
  return interval_of(differences, confidence, "paired_difference");
}

double trapezoid_auc(const std::vector<double>& curve) {
  if (curve.size() < 2) fail("trapezoid_auc: ", curve.size(), " points (need at least 2)");
  double sum = 0;
  for (size_t i = 0; i + 1 < curve.size(); ++i) sum += (curve[i] + curve[i + 1]) / 2;
  return sum / static_cast<double>(curve.size() - 1);
}

double spearman_correlation(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) {
    fail("spearman_correlation: ", a.size(), " values against ", b.size(), " (need equal sizes)");
  }
  if (a.size() < 2) fail("spearman_correlation: ", a.size(), " values (need at least 2)");
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      fail("spearman_correlation: value ", i, " is ", a[i], " and ", b[i], " (not finite)");
    }
  }
  const std::vector<double> rank_a = average_ranks(a), rank_b = average_ranks(b);
  const double mean = (static_cast<double>(a.size()) + 1) / 2;  // ranks 1 .. n, ties or not
  double covariance = 0, variance_a = 0, variance_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    covariance += (rank_a[i] - mean) * (rank_b[i] - mean);
    variance_a += (rank_a[i] - mean) * (rank_a[i] - mean);
    variance_b += (rank_b[i] - mean) * (rank_b[i] - mean);
  }
  if (variance_a == 0 || variance_b == 0) return 0;
  return covariance / std::sqrt(variance_a * variance_b);
}

}  // namespace sav::attribution
