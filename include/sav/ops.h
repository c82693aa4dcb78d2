// The closed set of differentiable ops the ViT is built from. Each op checks its arguments
// (shapes, devices) and throws sav::Error naming the op and the shapes; computes its forward
// pass on the inputs' backend; and, when gradients are recorded, leaves a backward function on
// the tape. Shapes are written [batch, tokens, features] with "..." for any leading dimensions.
#pragma once

#include <cstdint>
#include <vector>

#include "sav/tensor.h"

namespace sav::ops {

// x [..., in] · weight[out, in]^T + bias [out] -> [..., out]. bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// a + b -> a's shape. b has a's shape, or a's trailing dimensions (then it is added to every
// leading index, e.g. positions [tokens, d] added to [batch, tokens, d]).
Tensor add(const Tensor& a, const Tensor& b);

// LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias, with the
// biased variance. x [..., d], weight [d], bias [d].
Tensor layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

Tensor relu(const Tensor& x);

// GELU in its exact form, x * Phi(x) = x * (1 + erf(x / sqrt(2))) / 2 with Phi the standard
// normal distribution function: the activation of published ViTs (timm, Hugging Face), not the
// tanh approximation.
Tensor gelu(const Tensor& x);

// Inverted dropout with drop probability p in [0, 1). The mask is a pure function of
// (seed, stream, element index): the same arguments give the same mask on every backend.
// Give every dropout call of a training step its own stream. With `first_row`, x's rows (its
// first dimension: the images of a batch) are rows first_row, first_row + 1, ... of a larger
// batch and take that batch's mask: a rank's share of a global batch drops what one process
// would drop from those images. With `stream_offset` (a StreamOffset tensor on x's device) the
// stream is stream + its value, read when the mask is drawn: a training step replayed from a
// device graph draws that step's masks.
Tensor dropout(const Tensor& x, float p, uint64_t seed, uint64_t stream, int64_t first_row = 0,
               const Tensor& stream_offset = {});

// Stochastic depth (drop path, Huang et al. 2016) on a residual branch x [batch, ...] with
// probability p in [0, 1): each image's branch is kept whole and scaled by 1 / (1 - p), or
// dropped whole, image first_row + i of the batch drawing element first_row + i of (seed, stream)
// (as dropout numbers its elements). The same arguments give the same draws on every backend.
// `stream_offset` as dropout's.
Tensor drop_path(const Tensor& x, float p, uint64_t seed, uint64_t stream, int64_t first_row = 0,
                 const Tensor& stream_offset = {});

// A residual connection whose branch goes through dropout and drop path first:
// y = x + drop_path(dropout(branch)), in one pass and one op, the masks and values exactly those
// of ops::add(x, ops::drop_path(ops::dropout(branch, p, seed, stream, first_row, offset),
// path_p, seed, path_stream, first_row, offset)). A probability of 0 leaves its mask out; with
// both 0 it is ops::add. x and branch have one shape, [batch, ...].
struct BranchDrop {
  float p = 0;
  uint64_t stream = 0;
  float path_p = 0;
  uint64_t path_stream = 0;
  uint64_t seed = 0;
  int64_t first_row = 0;
  Tensor stream_offset;
};
Tensor residual(const Tensor& x, const Tensor& branch, const BranchDrop& drop);

// A mask stream's offset held on a device: a tensor of two floats whose eight bytes are the
// offset (a uint64_t), as the dropout kernels read it. `offset_values` writes them into a
// step's uploaded values; `offset_of` checks a tensor and returns the value's address.
constexpr int64_t kStreamOffsetFloats = 2;
void offset_values(uint64_t offset, float* values);
const uint64_t* offset_of(const Tensor& stream_offset, const Tensor& x, const char* op);

// Multi-head scaled dot-product self-attention, one op:
//   split q, k, v [batch, n, heads * d_k] into heads; A = softmax(Q K^T / sqrt(d_k)) per head;
//   out = merge(A V) [batch, n, heads * d_k].
// probs holds A [batch, heads, n, n] (row = query) for attribution. Gradients flow through
// `out` only; call probs.retain_grad() before backward to receive dLoss/dA in probs.grad().
struct AttentionResult {
  Tensor out;
  Tensor probs;
};
AttentionResult multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads);

// x [batch, tokens, d] -> tokens [start, start + count) as [batch, count, d].
Tensor slice_tokens(const Tensor& x, int64_t start, int64_t count);

// a [batch, n1, d], b [batch, n2, d] -> [batch, n1 + n2, d]. Either may have batch 1 and is then
// used for every batch item (a learned CLS token prepended to every image).
Tensor concat_tokens(const Tensor& a, const Tensor& b);

// factor * x: the mean of DeiT's two heads is scale(add(a, b), 0.5).
Tensor scale(const Tensor& x, float factor);

// The same values with another shape of the same element count.
Tensor reshape(const Tensor& x, const Shape& shape);

// Softmax cross-entropy with logits [batch, classes] and labels (batch values in
// [0, classes)), averaged over the batch -> a one-element tensor of shape [1].
Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels);

// The same against target distributions `targets` [batch, classes] on the logits' device, each
// row summing to 1 (label smoothing, Mixup and CutMix give such rows): the batch mean of
// -sum over c of targets[i, c] log softmax(logits)[i, c]. No gradient flows to the targets.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);

}  // namespace sav::ops
