// The backend interface: what the ops ask of a device. Backends get raw device pointers and
// explicit sizes; they never see tensors, shapes or the autograd tape. One backend object
// exists per device, chosen once (backend_for).
//
// Conventions shared by every member:
// - Matrices are row-major. Sizes are element counts, not bytes, unless named `bytes`.
// - A function whose name ends in _backward ACCUMULATES into its gradient outputs (dx += ...),
//   so that a tensor used twice collects both contributions, or, where it takes a Write, writes
//   them over: a gradient's first contribution then needs no zeroed buffer (Tensor::grad_slot).
// - A gradient output pointer may be null when that gradient is not wanted.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

#include "sav/device.h"

namespace sav {

enum class Transpose { kNo, kYes };

// Whether a kernel writes its result over its output or adds it to what the output holds (a
// gradient collecting the contributions of every use of a tensor).
enum class Write { kOverwrite, kAccumulate };

// A batch of row-major matrices numbered (i, j), i < outer and j < inner: matrix (i, j) starts
// at data + i * outer_stride + j * inner_stride and its rows lie ld apart. Attention's q
// [batch, n, heads * head_dim] holds one n x head_dim matrix per (image, head): ld and the inner
// stride are heads * head_dim and head_dim, the outer stride n * heads * head_dim.
template <typename T>
struct MatrixBatch {
  T* data;
  int ld;
  int64_t outer_stride, inner_stride;
};
using MatrixBatchIn = MatrixBatch<const float>;
using MatrixBatchOut = MatrixBatch<float>;

// Which batch items a tensor in a token copy holds: one [tokens, dim] block per item, or a
// single [1, tokens, dim] block shared by every item (a learned token broadcast over the batch).
enum class TokenBatch { kPerItem, kShared };

// One side of a token copy: `data` holds [batch or 1, tokens, dim], and the copy touches tokens
// from `start` on.
template <typename T>
struct TokenRange {
  T* data;
  int64_t tokens;
  int64_t start;
  TokenBatch batch = TokenBatch::kPerItem;
};
using TokenDst = TokenRange<float>;
using TokenSrc = TokenRange<const float>;

// One tensor's part in an Adam step: the parameter, its gradient and its two moments, n values
// each.
struct AdamTensor {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
};

// What every element of an Adam step shares: the bias corrections 1 / (1 - beta^step), taken in
// double, and the weight decay's factor 1 - lr * weight_decay. One function, so that every
// backend computes them alike.
struct AdamScales {
  float m, v, decay;
};
inline AdamScales adam_scales(float lr, float beta1, float beta2, float weight_decay,
                              int64_t step) {
  const double t = static_cast<double>(step);
  return {static_cast<float>(1.0 / (1.0 - std::pow(double{beta1}, t))),
          static_cast<float>(1.0 / (1.0 - std::pow(double{beta2}, t))), 1.0f - lr * weight_decay};
}

// What an Adam step reads from the device when its values are given there (adam_update's
// `values`): the learning rate, adam_scales' m and v, and the weight decay's factor.
enum AdamValue { kAdamLr = 0, kAdamM = 1, kAdamV = 2, kAdamDecay = 3, kAdamValuesSize = 4 };

// A residual branch's dropout and drop path, as one pass (Backend::branch_masks): dropout with
// probability p from (seed, stream) and drop path with probability path_p from (seed,
// path_stream), each left out where its probability is 0; both streams plus *stream_offset where
// it is given (device memory); the branch's rows are rows first_row, first_row + 1, ... of the
// batch.
struct BranchMasks {
  float p = 0;
  uint64_t stream = 0;
  float path_p = 0;
  uint64_t path_stream = 0;
  uint64_t seed = 0;
  const uint64_t* stream_offset = nullptr;
  uint64_t first_row = 0;
};

// n values starting at data.
struct FloatSpan {
  float* data;
  int64_t n;
};

// The queues a backend's work goes to: kCompute (every kernel and product) and kCopy (uploads
// that overlap the compute queue's work). Where work is synchronous (the CPU) both are the host.
enum class Queue { kCompute, kCopy };

// What a training step decides on the device and Adam reads there (adam_update's `control`),
// so that the host never has to look at a step before the next: the factor the gradients are
// taken times (clipping by global norm), whether to update at all (every loss so far finite),
// and the gradients' global norm.
enum StepControl { kGradFactor = 0, kGo = 1, kGradNorm = 2, kStepControlSize = 3 };

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  // One line for logs: "cpu: OpenBLAS 0.3.21 (Haswell), 2 threads".
  virtual std::string describe() const = 0;
  // Number of threads the row-wise kernels and the BLAS use; 0 means all cores.
  virtual void set_num_threads(int threads) = 0;
  virtual int num_threads() const = 0;
  // TF32 tensor-core math in the matrix products, where the device has it (off by default: exact
  // float32). The CPU has none and ignores it.
  virtual void set_tf32(bool enabled) = 0;

  // Memory. allocate returns storage aligned to 64 bytes and throws sav::Error naming the size
  // when it cannot; deallocate accepts what allocate returned (or null), with the same size.
  // Backends may keep freed blocks for reuse.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) noexcept = 0;
  virtual MemoryStats memory_stats() const { return {}; }
  // Gives the freed blocks a backend keeps for reuse back to the system (a no-op where it
  // keeps none): for when the work ahead allocates other sizes, or none.
  virtual void release_cached_memory() {}
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill(float* dst, float value, int64_t n) = 0;
  // Zeroes every span listed (an optimizer's gradients): one launch on a GPU, not one a span.
  virtual void zero(const FloatSpan* spans, int count) = 0;
  // Waits until all queued work is done (a no-op where work is synchronous).
  virtual void synchronize() = 0;

  // ---- Running ahead of the device. Where work is synchronous, as on the CPU, the defaults
  // serve: host memory is plain, a copy is done when it returns, every event has passed.
  // Host memory the device copies from and to while the host goes on (page-locked on a GPU).
  virtual void* allocate_host(size_t bytes) { return ::operator new(bytes == 0 ? 1 : bytes); }
  virtual void deallocate_host(void* ptr) noexcept { ::operator delete(ptr); }
  // Copies queued on `queue`, returning at once: host_src must stay as it is, and host_dst
  // unread, until an event recorded after the copy on that queue has passed. The host memory
  // comes from allocate_host.
  virtual void upload_async(void* dst, const void* host_src, size_t bytes, Queue /*queue*/) {
    upload(dst, host_src, bytes);
  }
  virtual void download_async(void* host_dst, const void* src, size_t bytes, Queue /*queue*/) {
    download(host_dst, src, bytes);
  }
  // Events: the point a queue's work had reached when the event was recorded.
  virtual void* create_event() { return this; }  // any non-null handle serves
  virtual void destroy_event(void* /*event*/) noexcept {}
  virtual void record_event(void* /*event*/, Queue /*queue*/) {}
  // Makes `queue`'s later work wait for the event; the host does not wait.
  virtual void queue_wait(Queue /*queue*/, void* /*event*/) {}
  // Whether the work before the event is done, never waiting; and waiting until it is.
  virtual bool event_passed(void* /*event*/) { return true; }
  virtual void wait_event(void* /*event*/) {}

  // Device graphs (CUDA graphs): the compute queue's work between begin_capture and end_capture
  // is recorded, not run, and replay runs it again, reading and writing the memory it names as
  // that memory is then. Memory allocated while recording belongs to the graph, at fixed
  // addresses. Where work runs as it is issued (the CPU) there are no graphs: begin_capture
  // returns false and nothing is recorded.
  virtual bool has_graphs() const { return false; }
  virtual bool begin_capture() { return false; }
  // The recorded graph, ready to replay; throws sav::Error naming what could not be recorded.
  virtual void* end_capture() { return nullptr; }
  // Ends a capture that failed part way, discarding what it recorded.
  virtual void abandon_capture() noexcept {}
  virtual void replay(void* /*graph*/) {}
  virtual void destroy_graph(void* /*graph*/) noexcept {}
  // The queue the backend's work goes to (a cudaStream_t for CUDA), for timing it with the
  // device's own events; null where work is synchronous.
  virtual void* native_stream() { return nullptr; }

  // C (m x n) = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is k x n.
  virtual void gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                    const float* a, int lda, const float* b, int ldb, float beta, float* c,
                    int ldc) = 0;
  // `batch` independent gemms; matrix i starts at a + i * stride_a (and likewise b, c).
  virtual void gemm_strided_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k,
                                    float alpha, const float* a, int lda, int64_t stride_a,
                                    const float* b, int ldb, int64_t stride_b, float beta, float* c,
                                    int ldc, int64_t stride_c, int batch) = 0;
  // outer * inner independent gemms, C(i, j) = alpha * op(A(i, j)) * op(B(i, j)) + beta * C(i, j),
  // each operand's matrices where its MatrixBatch puts them: interleaved matrices (attention's
  // heads) are read and written where they lie, not copied apart first. With beta 0, C is not
  // read. C's matrices must not overlap.
  virtual void gemm_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                            const MatrixBatchIn& a, const MatrixBatchIn& b, float beta,
                            const MatrixBatchOut& c, int outer, int inner) = 0;

  // y[i] = a[i] + b[i % b_n] for i < n; b_n divides n (b_n == n: plain sum; b_n == cols: a row
  // vector added to every row). y may alias a.
  virtual void add(float* y, const float* a, const float* b, int64_t n, int64_t b_n) = 0;
  // y[i] += x[i].
  virtual void accumulate(float* y, const float* x, int64_t n) = 0;
  // y[i] (+)= factor * x[i]. y may alias x when overwriting.
  virtual void scale(float* y, const float* x, float factor, int64_t n, Write write) = 0;
  // y[r * cols + j] = row[j] for r < rows: a bias written ahead of a product that adds to it.
  virtual void repeat_rows(float* y, const float* row, int64_t rows, int64_t cols) = 0;
  // y[j] += sum over rows i of x[i * cols + j]  (bias gradients, broadcast gradients).
  virtual void sum_rows_accumulate(float* y, const float* x, int64_t rows, int64_t cols) = 0;

  virtual void relu_forward(float* y, const float* x, int64_t n) = 0;
  // dx += dy * (x > 0). `x` may be the input or the output: relu(x) > 0 exactly where x > 0.
  virtual void relu_backward(float* dx, const float* x, const float* dy, int64_t n,
                             Write write = Write::kAccumulate) = 0;

  // GELU in its exact form, as published ViTs use it: y = x * Phi(x), where
  // Phi(x) = (1 + erf(x / sqrt(2))) / 2 is the standard normal distribution function.
  virtual void gelu_forward(float* y, const float* x, int64_t n) = 0;
  // dx += dy * gelu'(x), gelu'(x) = Phi(x) + x * phi(x) with phi the standard normal density.
  // `x` is the input: unlike relu's, the derivative cannot be told from the output.
  virtual void gelu_backward(float* dx, const float* x, const float* dy, int64_t n,
                             Write write = Write::kAccumulate) = 0;

  // Inverted dropout: y = x * keep / (1 - p), keep drawn from the counter-based generator
  // (sav/random.h) at (seed, stream, element index), so the backward pass and every backend
  // draw the same mask without storing it. x[i] is element first + i of the mask's numbering:
  // a slice of a larger tensor takes that tensor's mask (a rank's share of a global batch).
  // With `stream_offset` (one value in device memory) the stream is stream + *stream_offset,
  // read when the kernel runs: a step replayed from a graph draws its own masks.
  virtual void dropout_forward(float* y, const float* x, int64_t n, float p, uint64_t seed,
                               uint64_t stream, const uint64_t* stream_offset, uint64_t first) = 0;
  // dx += dy * keep / (1 - p).
  virtual void dropout_backward(float* dx, const float* dy, int64_t n, float p, uint64_t seed,
                                uint64_t stream, const uint64_t* stream_offset, uint64_t first,
                                Write write = Write::kAccumulate) = 0;

  // Stochastic depth (drop path, Huang et al. 2016): y = x * keep(r) / (1 - p) over every element
  // of row r of x (rows x cols), keep(r) drawn as dropout draws element first_row + r: lane
  // (first_row + r) % 4 of Philox block (first_row + r) / 4 of (seed, stream). A row is one image:
  // its residual branch is kept or dropped whole. `stream_offset` as dropout's.
  virtual void drop_path_forward(float* y, const float* x, int64_t rows, int64_t cols, float p,
                                 uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                                 uint64_t first_row) = 0;
  // dx += dy * keep(r) / (1 - p).
  virtual void drop_path_backward(float* dx, const float* dy, int64_t rows, int64_t cols, float p,
                                  uint64_t seed, uint64_t stream, const uint64_t* stream_offset,
                                  uint64_t first_row, Write write = Write::kAccumulate) = 0;

  // A residual connection's branch masked and added in one pass: y = x + drop_path(dropout(in))
  // over rows x cols values, the masks drawn as dropout_forward (element first_row * cols + i)
  // and drop_path_forward (row first_row + r) draw them, and the values the same as those two
  // and add() give one after another.
  virtual void branch_masks_forward(float* y, const float* x, const float* in, int64_t rows,
                                    int64_t cols, const BranchMasks& masks) = 0;
  // Its gradient with respect to `in`: dx (+)= dropout'(drop_path'(dy)), as the two backward
  // passes give it one after the other.
  virtual void branch_masks_backward(float* dx, const float* dy, int64_t rows, int64_t cols,
                                     const BranchMasks& masks, Write write) = 0;

  // LayerNorm over the last dimension of x (rows x cols): y = (x - mean) * rstd * w + b with
  // rstd = 1 / sqrt(var + eps), var the biased variance. mean and rstd (rows) are kept for the
  // backward pass.
  virtual void layernorm_forward(float* y, float* mean, float* rstd, const float* x, const float* w,
                                 const float* b, int64_t rows, int64_t cols, float eps) = 0;
  // dx (+)= as `write` says; dw and db (parameters) always accumulate.
  virtual void layernorm_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                                  const float* w, const float* mean, const float* rstd,
                                  int64_t rows, int64_t cols, Write write = Write::kAccumulate) = 0;

  // Softmax of each row. y may alias x.
  virtual void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) = 0;
  // dx = y * (dy - sum_j dy_j y_j), row by row. Overwrites dx, which may alias dy.
  virtual void softmax_backward(float* dx, const float* y, const float* dy, int64_t rows,
                                int64_t cols) = 0;

  // Softmax cross-entropy against target distributions, averaged over the batch: probs
  // (batch x classes) = softmax(logits), loss[0] = mean over i of
  // -sum_j targets[i, j] log probs[i, j], each row's term taken as
  // sum_j targets[i, j] (log sum_k exp(logits[i, k] - top) + top - logits[i, j]), top the row's
  // largest logit. A one-hot row gives exactly -log probs[i, label]. targets live on the device.
  virtual void cross_entropy_forward(float* loss, float* probs, const float* logits,
                                     const float* targets, int64_t batch, int64_t classes) = 0;
  // dlogits += (*dloss / batch) * (probs - targets): the gradient of the batch mean for rows of
  // targets that sum to 1, scaled by the upstream gradient *dloss, which stays on the device.
  virtual void cross_entropy_backward(float* dlogits, const float* probs, const float* targets,
                                      const float* dloss, int64_t batch, int64_t classes,
                                      Write write = Write::kAccumulate) = 0;

  // One Adam step (Kingma & Ba) on every tensor listed, with decoupled weight decay (AdamW) when
  // weight_decay > 0: param *= 1 - lr * weight_decay; m = beta1 m + (1 - beta1) grad;
  // v = beta2 v + (1 - beta2) grad^2; param -= lr * m_hat / (sqrt(v_hat) + eps), where
  // m_hat = m / (1 - beta1^step) and v_hat = v / (1 - beta2^step). step counts from 1. grad is
  // the stored gradient times grad_scale, and times control[kGradFactor] when `control` (device,
  // kStepControlSize values) is given; with control[kGo] == 0 nothing changes. With `values`
  // (device, kAdamValuesSize values: adam_values), lr, the bias corrections and the decay factor
  // are read from there when the kernel runs, and `lr` and `step` are not used: a step replayed
  // from a graph takes its own. One launch on a GPU for the whole model, not one a tensor.
  virtual void adam_update(const AdamTensor* tensors, int count, float lr, float beta1, float beta2,
                           float eps, float weight_decay, int64_t step, float grad_scale,
                           const float* control, const float* values) = 0;

  // Clipping by global norm, decided on the device: control[kGradNorm] = the L2 norm of all the
  // spans' values together (summed in double, in an order fixed by the spans alone), and
  // control[kGradFactor] = bound / norm where the norm exceeds `bound`, else 1. One launch.
  virtual void clip_factor(float* control, const FloatSpan* spans, int count, float bound) = 0;

  // Records a training step on the device: with k = records[0] (a whole number), writes
  // records[1 + 3k] = loss[0], records[2 + 3k] = the rows of logits (batch x classes) whose
  // largest value (the first of equals) is at labels[row] (whole numbers), records[3 + 3k] =
  // batch, and counts the step in records[0]. control[kGo] becomes 0 at a loss that is not
  // finite, and stays 0. The caller keeps k within the records.
  virtual void record_step(float* records, float* control, const float* loss, const float* logits,
                           const float* labels, int64_t batch, int64_t classes) = 0;

  // For every b < batch and t < count, with dim values a token:
  //   dst[b', dst.start + t, :] (+)= src[b'', src.start + t, :]
  // where b' (or b'') is b, or 0 on a side whose batch is kShared. A shared dst requires
  // Write::kAccumulate (it sums over the batch: the gradient of a broadcast).
  virtual void copy_tokens(const TokenDst& dst, const TokenSrc& src, int64_t batch, int64_t count,
                           int64_t dim, Write write) = 0;
};

// The backend of a device: created on first use and kept for the life of the process.
// Throws sav::Error when the device is not available in this build or on this machine.
Backend& backend_for(Device device);

}  // namespace sav
