// Every differentiable op against central differences, on the CPU backend.
#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "op_cases.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::testing {
namespace {

class GradCheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(GradCheck, MatchesCentralDifferences) {
  const GradCheckResult result = check_gradients(GetParam(), Device::cpu());
  EXPECT_TRUE(result.passed) << result.report;
  std::cout << result.report;
}

INSTANTIATE_TEST_SUITE_P(Cpu, GradCheck, ::testing::ValuesIn(all_op_cases()),
                         [](const auto& info) { return info.param.name; });

// The table covers the closed op set: each op name appears on some case's tape.
TEST(GradCheckTable, CoversEveryOp) {
  std::set<std::string> seen;
  for (const OpCase& op_case : all_op_cases()) {
    const Tensor out = op_case.forward(make_inputs(op_case, Device::cpu(), 1));
    ASSERT_NE(out.grad_fn(), nullptr) << op_case.name;
    seen.insert(out.grad_fn()->op);
  }
  for (const std::string& op : op_set()) EXPECT_TRUE(seen.count(op)) << "no case for " << op;
  EXPECT_EQ(seen.size(), op_set().size());
}

// The ops composed as in one post-LN encoder layer and the classifier head, checked as one
// function: the tape must route gradients through every join (residuals, shared inputs).
TEST(GradCheckComposite, EncoderLayerAndHead) {
  OpCase block{"encoder_layer",
               {{{2, 3, 6}},  // patches [batch, tokens, patch features]
                {{1, 1, 6}},  // CLS token
                {{8, 6}},
                {{8}},  // patch embedding
                {{8, 8}},
                {{8, 8}},
                {{8, 8}},
                {{8, 8}},  // q, k, v, o
                {{8}, 0.5f, 1.5f},
                {{8}},  // ln1
                {{12, 8}},
                {{12}},
                {{8, 12}},
                {{8}},  // ffn
                {{8}, 0.5f, 1.5f},
                {{8}},  // ln2
                {{3, 8}},
                {{3}}},  // head
               [](const std::vector<Tensor>& p) {
                 Tensor x = ops::linear(ops::concat_tokens(p[1], p[0]), p[2], p[3]);
                 auto attn = ops::multi_head_attention(ops::linear(x, p[4]), ops::linear(x, p[5]),
                                                       ops::linear(x, p[6]), 2);
                 Tensor y = ops::layernorm(
                     ops::add(x, ops::dropout(ops::linear(attn.out, p[7]), 0.1f, 3, 0)), p[8],
                     p[9]);
                 Tensor h = ops::linear(ops::relu(ops::linear(y, p[10], p[11])), p[12], p[13]);
                 Tensor z = ops::layernorm(ops::add(y, ops::dropout(h, 0.1f, 3, 1)), p[14], p[15]);
                 Tensor cls = ops::reshape(ops::slice_tokens(z, 0, 1), {2, 8});
                 return ops::cross_entropy(ops::linear(cls, p[16], p[17]), {2, 0});
               },
               2e-3};
  const GradCheckResult result = check_gradients(block, Device::cpu());
  EXPECT_TRUE(result.passed) << result.report;
  std::cout << result.report;
}

}  // namespace
}  // namespace sav::testing
