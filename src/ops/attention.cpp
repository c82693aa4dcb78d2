// Multi-head self-attention as one op: head split, scores, softmax, A·V and head merge forward;
// the matching products backward. The probabilities A are kept for attribution.
#include <cmath>

#include "backends/backend.h"
#include "ops/checks.h"
#include "ops/gradient_slot.h"
#include "sav/autograd.h"
#include "sav/ops.h"

namespace sav::ops {
namespace {

struct AttentionDims : HeadLayout {
  int64_t groups() const { return batch * heads; }  // independent (image, head) pairs
  Shape per_head() const { return {batch, heads, n, head_dim}; }
  Shape scores() const { return {batch, heads, n, n}; }
};

// [batch, n, heads * head_dim] -> [batch, heads, n, head_dim], a new tensor.
Tensor split(const Tensor& x, const AttentionDims& d) {
  Tensor out = Tensor::empty(d.per_head(), x.device());
  x.backend().split_heads(out.data(), x.data(), d);
  return out;
}

// The forward pass: out = merge(softmax(scale · Q K^T) · V), and A = the softmax, kept.
AttentionResult attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const AttentionDims& d, float scale) {
  const int n = static_cast<int>(d.n), dk = static_cast<int>(d.head_dim),
            groups = static_cast<int>(d.groups());
  const int64_t head_stride = d.n * d.head_dim, score_stride = d.n * d.n;
  const Device device = q.device();
  Backend& backend = backend_for(device);

  const Tensor qh = split(q, d), kh = split(k, d), vh = split(v, d);  // (B, H, n, dk)
  Tensor probs = Tensor::empty(d.scores(), device);                   // (B, H, n, n)
  backend.gemm_strided_batched(Transpose::kNo, Transpose::kYes, n, n, dk, scale, qh.data(), dk,
                               head_stride, kh.data(), dk, head_stride, 0.0f, probs.data(), n,
                               score_stride, groups);
  backend.softmax_forward(probs.data(), probs.data(), d.groups() * d.n, d.n);
  Tensor oh = Tensor::empty(d.per_head(), device);  // (B, H, n, dk) = A · V
  backend.gemm_strided_batched(Transpose::kNo, Transpose::kNo, n, dk, n, 1.0f, probs.data(), n,
                               score_stride, vh.data(), dk, head_stride, 0.0f, oh.data(), dk,
                               head_stride, groups);
  Tensor out = Tensor::empty(q.shape(), device);  // (B, n, H * dk)
  backend.merge_heads(out.data(), oh.data(), d, Write::kOverwrite);

  return {out, probs};
}

// The backward pass from dout, the gradient of out: dA (into A's gradient, where retained for
// attribution), then dV, dS through the softmax, dQ and dK, each put into its input's
// gradient (Tensor::grad_slot). The per-head copies of q, k, v are made again here rather than kept
// from the forward pass: a cheap copy against three activations' worth of memory per layer.
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& probs,
                        const AttentionDims& d, float scale, const Tensor& dout) {
  Backend& backend = dout.backend();
  const int n = static_cast<int>(d.n), dk = static_cast<int>(d.head_dim),
            groups = static_cast<int>(d.groups());
  const int64_t head_stride = d.n * d.head_dim, score_stride = d.n * d.n;
  const Tensor doh = split(dout, d);  // (B, H, n, dk)
  const Tensor vh = split(v, d);

  Tensor dprobs = Tensor::empty(d.scores(), dout.device());  // dA = dO · V^T
  backend.gemm_strided_batched(Transpose::kNo, Transpose::kYes, n, n, dk, 1.0f, doh.data(), dk,
                               head_stride, vh.data(), dk, head_stride, 0.0f, dprobs.data(), n,
                               score_stride, groups);
  if (probs.retains_grad()) detail::pass_gradient(probs, dprobs.data(), probs.numel());
  Tensor dh = Tensor::empty(d.per_head(), dout.device());  // one per-head gradient at a time
  // dV = A^T · dO
  if (v.requires_grad()) {
    backend.gemm_strided_batched(Transpose::kYes, Transpose::kNo, n, dk, n, 1.0f, probs.data(), n,
                                 score_stride, doh.data(), dk, head_stride, 0.0f, dh.data(), dk,
                                 head_stride, groups);
    const Tensor::GradSlot v_grad = v.grad_slot();
    backend.merge_heads(v_grad.data, dh.data(), d, detail::write_of(v_grad));
  }
  // dS = softmax'(dA), in place; the scores were scale · Q K^T.
  float* dscores = dprobs.data();
  backend.softmax_backward(dscores, probs.data(), dscores, d.groups() * d.n, d.n);
  // dQ = scale · dS · K
  if (q.requires_grad()) {
    const Tensor kh = split(k, d);
    backend.gemm_strided_batched(Transpose::kNo, Transpose::kNo, n, dk, n, scale, dscores, n,
                                 score_stride, kh.data(), dk, head_stride, 0.0f, dh.data(), dk,
                                 head_stride, groups);
    const Tensor::GradSlot q_grad = q.grad_slot();
    backend.merge_heads(q_grad.data, dh.data(), d, detail::write_of(q_grad));
  }
  // dK = scale · dS^T · Q
  if (k.requires_grad()) {
    const Tensor qh = split(q, d);
    backend.gemm_strided_batched(Transpose::kYes, Transpose::kNo, n, dk, n, scale, dscores, n,
                                 score_stride, qh.data(), dk, head_stride, 0.0f, dh.data(), dk,
                                 head_stride, groups);
    const Tensor::GradSlot k_grad = k.grad_slot();
    backend.merge_heads(k_grad.data, dh.data(), d, detail::write_of(k_grad));
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
