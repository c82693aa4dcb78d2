// Backend::gemm_batched against a naive loop, on any device: products whose matrices interleave
// with gaps (attention's heads side by side in a row, and heads one after another), for every
// pair of transposes, with beta 1 and with beta 0 over a C that holds NaN (it must not be read).
// Values of C's buffer outside its matrices must be left as they were.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "backends/backend.h"
#include "reference.h"
#include "sav/tensor.h"

namespace sav::testing {

// Where an operand's matrices lie: matrix (i, j) at i * outer + j * inner, rows ld apart, in a
// buffer of `size` values.
struct MatrixPlacement {
  int ld;
  int64_t outer, inner, size;
  int64_t at(int64_t i, int64_t j, int64_t row, int64_t col) const {
    return i * outer + j * inner + row * ld + col;
  }
};

// outer x inner matrices of rows x cols side by side, `inner` to a row of ld = inner * cols + pad:
// q's heads in [batch, n, heads * head_dim], with gaps.
inline MatrixPlacement side_by_side(int rows, int cols, int outer, int inner, int pad) {
  const int ld = inner * cols + pad;
  const int64_t outer_stride = int64_t{rows} * ld + pad;
  return {ld, outer_stride, cols, outer * outer_stride};
}

// The same with the roles swapped: `outer` matrices to a row, the inner index the slower one.
inline MatrixPlacement swapped(int rows, int cols, int outer, int inner, int pad) {
  const int ld = outer * cols + pad;
  const int64_t inner_stride = int64_t{rows} * ld + pad;
  return {ld, cols, inner_stride, inner * inner_stride};
}

inline void expect_gemm_batched_matches_a_loop(Device device) {
  Backend& backend = backend_for(device);
  const int m = 4, n = 5, k = 3, outer = 3, inner = 2;
  const float alpha = 0.75f;
  uint32_t seed = 40;
  for (const Transpose ta : {Transpose::kNo, Transpose::kYes}) {
    for (const Transpose tb : {Transpose::kNo, Transpose::kYes}) {
      for (const float beta : {0.0f, 1.0f}) {
        const bool a_t = ta == Transpose::kYes, b_t = tb == Transpose::kYes;
        const MatrixPlacement pa = side_by_side(a_t ? k : m, a_t ? m : k, outer, inner, 1);
        const MatrixPlacement pb = swapped(b_t ? n : k, b_t ? k : n, outer, inner, 2);
        const MatrixPlacement pc = side_by_side(m, n, outer, inner, 3);
        const std::vector<float> a = random_values(pa.size, ++seed);
        const std::vector<float> b = random_values(pb.size, ++seed);
        std::vector<float> c = random_values(pc.size, ++seed);
        std::vector<bool> in_c(c.size(), false);
        for (int i = 0; i < outer; ++i) {
          for (int j = 0; j < inner; ++j) {
            for (int r = 0; r < m; ++r) {
              for (int col = 0; col < n; ++col) {
                const int64_t e = pc.at(i, j, r, col);
                in_c[e] = true;
                if (beta == 0.0f) c[e] = std::numeric_limits<float>::quiet_NaN();
              }
            }
          }
        }
        std::vector<double> expected(c.begin(), c.end());
        for (int i = 0; i < outer; ++i) {
          for (int j = 0; j < inner; ++j) {
            for (int r = 0; r < m; ++r) {
              for (int col = 0; col < n; ++col) {
                double sum = 0;
                for (int q = 0; q < k; ++q) {
                  sum += double{a[a_t ? pa.at(i, j, q, r) : pa.at(i, j, r, q)]} *
                         b[b_t ? pb.at(i, j, col, q) : pb.at(i, j, q, col)];
                }
                const int64_t e = pc.at(i, j, r, col);
                expected[e] = alpha * sum + (beta == 0.0f ? 0.0 : beta * expected[e]);
              }
            }
          }
        }
        const Tensor ta_values = Tensor::from_vector({pa.size}, a, device);
        const Tensor tb_values = Tensor::from_vector({pb.size}, b, device);
        const Tensor tc_values = Tensor::from_vector({pc.size}, c, device);
        backend.gemm_batched(ta, tb, m, n, k, alpha, {ta_values.data(), pa.ld, pa.outer, pa.inner},
                             {tb_values.data(), pb.ld, pb.outer, pb.inner}, beta,
                             {tc_values.data(), pc.ld, pc.outer, pc.inner}, outer, inner);
        const std::vector<float> got = tc_values.to_vector();
        for (size_t e = 0; e < got.size(); ++e) {
          if (in_c[e]) {
            EXPECT_NEAR(got[e], expected[e], 1e-5 * std::max(1.0, std::fabs(expected[e])))
                << "element " << e << ", transposes " << a_t << b_t << ", beta " << beta;
          } else {
            EXPECT_EQ(got[e], c[e]) << "element " << e << " lies between C's matrices";
          }
        }
      }
    }
  }
}

}  // namespace sav::testing
