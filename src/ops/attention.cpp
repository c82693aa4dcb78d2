// Multi-head self-attention as one op: scores, softmax and A·V forward, the matching products
// backward, every product over all (image, head) pairs at once and on the heads where they lie in
// q, k, v and out. The probabilities A are kept for attribution.
#include <cmath>

#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {
namespace {

// The sizes of attention's operands, and where each (image, head) matrix of them lies. q, k, v,
// out and their gradients are [batch, n, heads * head_dim]: the matrix of image b and head h is
// n x head_dim, starts at b * n * width + h * head_dim and has rows `width` apart. The
// probabilities and their gradient are [batch, heads, n, n], one n x n matrix after another.
// The products read and write these matrices where they lie: no per-head copies.
struct AttentionDims {
  int64_t batch, n, heads, head_dim;
  int64_t width() const { return heads * head_dim; }
  Shape scores_shape() const { return {batch, heads, n, n}; }
  MatrixBatchIn heads_in(const float* x) const { return {x, ld_heads(), n * width(), head_dim}; }
  MatrixBatchOut heads_out(float* x) const { return {x, ld_heads(), n * width(), head_dim}; }
  MatrixBatchIn scores_in(const float* x) const { return {x, ld_scores(), heads * n * n, n * n}; }
  MatrixBatchOut scores_out(float* x) const { return {x, ld_scores(), heads * n * n, n * n}; }
  int ld_heads() const { return static_cast<int>(width()); }
  int ld_scores() const { return static_cast<int>(n); }
};

// gemm_batched over the (image, head) pairs of d.
void per_head_gemm(Backend& backend, const AttentionDims& d, Transpose trans_a, Transpose trans_b,
                   int64_t m, int64_t n, int64_t k, float alpha, const MatrixBatchIn& a,
                   const MatrixBatchIn& b, float beta, const MatrixBatchOut& c) {
  backend.gemm_batched(trans_a, trans_b, static_cast<int>(m), static_cast<int>(n),
                       static_cast<int>(k), alpha, a, b, beta, c, static_cast<int>(d.batch),
                       static_cast<int>(d.heads));
}

// beta for a product written into a gradient slot: 0 writes over it, 1 adds to it.
float beta_of(const Tensor::GradSlot& slot) {
  return detail::write_of(slot) == Write::kOverwrite ? 0.0f : 1.0f;
}

// The forward pass, head by head: A = softmax(scale · Q K^T) (B, H, n, n), kept; out = A · V,
// written into its heads' columns of out (B, n, H * dk).
AttentionResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const AttentionDims& d, float scale) {
  const Device device = q.device();
  Backend& backend = backend_for(device);
  Tensor probs = Tensor::empty(d.scores_shape(), device);
  per_head_gemm(backend, d, Transpose::kNo, Transpose::kYes, d.n, d.n, d.head_dim, scale,
                d.heads_in(q.data()), d.heads_in(k.data()), 0.0f, d.scores_out(probs.data()));
  backend.softmax_forward(probs.data(), probs.data(), d.batch * d.heads * d.n, d.n);
  Tensor out = Tensor::empty(q.shape(), device);
  per_head_gemm(backend, d, Transpose::kNo, Transpose::kNo, d.n, d.head_dim, d.n, 1.0f,
                d.scores_in(probs.data()), d.heads_in(v.data()), 0.0f, d.heads_out(out.data()));
  return {out, probs};
}

// The backward pass from dout, the gradient of out: dA (into A's gradient, where retained for
// attribution), then dV, dS through the softmax, dQ and dK, each product written straight into
// its input's gradient (Tensor::grad_slot), over it or added to it.
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                        const AttentionDims& d, float scale, const Tensor& dout) {
  Backend& backend = dout.backend();
  const MatrixBatchIn dout_heads = d.heads_in(dout.data());
  const MatrixBatchIn probs_in = d.scores_in(probs.data());
  Tensor dprobs = Tensor::empty(d.scores_shape(), dout.device());  // dA = dO · V^T
  per_head_gemm(backend, d, Transpose::kNo, Transpose::kYes, d.n, d.n, d.head_dim, 1.0f, dout_heads,
                d.heads_in(v.data()), 0.0f, d.scores_out(dprobs.data()));
  if (probs.retains_grad()) detail::pass_gradient(probs, dprobs.data(), probs.numel());
  if (v.requires_grad()) {  // dV = A^T · dO
    const Tensor::GradSlot v_grad = v.grad_slot();
    per_head_gemm(backend, d, Transpose::kYes, Transpose::kNo, d.n, d.head_dim, d.n, 1.0f, probs_in,
                  dout_heads, beta_of(v_grad), d.heads_out(v_grad.data));
  }
  // dS = softmax'(dA), in place; the scores were scale · Q K^T.
  float* dscores = dprobs.data();
  backend.softmax_backward(dscores, probs.data(), dscores, d.batch * d.heads * d.n, d.n);
  const MatrixBatchIn dscores_in = d.scores_in(dscores);
  if (q.requires_grad()) {  // dQ = scale · dS · K
    const Tensor::GradSlot q_grad = q.grad_slot();
    per_head_gemm(backend, d, Transpose::kNo, Transpose::kNo, d.n, d.head_dim, d.n, scale,
                  dscores_in, d.heads_in(k.data()), beta_of(q_grad), d.heads_out(q_grad.data));
  }
  if (k.requires_grad()) {  // dK = scale · dS^T · Q
    const Tensor::GradSlot k_grad = k.grad_slot();
    per_head_gemm(backend, d, Transpose::kYes, Transpose::kNo, d.n, d.head_dim, d.n, scale,
                  dscores_in, d.heads_in(q.data()), beta_of(k_grad), d.heads_out(k_grad.data));
  }
}

}  // namespace

AttentionResult multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads) {
  const char* op = "multi_head_attention";
  detail::require_defined(op, {{"q", &q}, {"k", &k}, {"v", &v}});
  detail::require_rank(op, "q", q, 3);
  detail::same_device(op, {{"q", &q}, {"k", &k}, {"v", &v}});
  if (k.shape() != q.shape() || v.shape() != q.shape()) {
    fail(op, ": q, k and v must have one shape, got ", q.shape(), ", ", k.shape(), " and ",
         v.shape());
  }
  if (heads <= 0 || q.shape()[2] % heads != 0) {
    fail(op, ": ", heads, " heads do not divide the model width ", q.shape()[2], " of q ",
         q.shape());
  }
  const AttentionDims d{q.shape()[0], q.shape()[1], heads, q.shape()[2] / heads};
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  AttentionResult result = attention_forward(q, k, v, d, scale);
  const Tensor probs = result.probs;
  result.out = record(result.out, op, {q, k, v}, [q, k, v, probs, d, scale](const Tensor& dout) {
    attention_backward(q, k, v, probs, d, scale, dout);
  });
  return result;
}

}  // namespace sav::ops
