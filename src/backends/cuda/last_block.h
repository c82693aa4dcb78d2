// Sums over many blocks in one launch, with the same bits every run: each block writes its
// partial sums, then counts itself in on an integer counter; the last block to arrive adds
// every block's partial sums in an order fixed by the sizes alone. The counter decides only
// which block adds, never the order, so the result does not depend on scheduling. Included by
// the backend's .cu files (device functions are not shared between them otherwise).
#pragma once

namespace sav {

// Whether this block is the last of the `blocks` sharing *counter to finish. Every thread of the
// block calls it, after the block's partial sums are written: they are fenced before the count,
// and the last block fences again before it reads the others'. The last block sets the counter
// back to 0, so that the next launch (or a replay of a captured one) finds it there.
__device__ inline bool last_block_to_finish(unsigned int* counter, unsigned int blocks) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0 && threadIdx.y == 0) {
    last = atomicAdd(counter, 1u) == blocks - 1;
    if (last) *counter = 0;
  }
  __syncthreads();
  if (last) __threadfence();  // the other blocks' partial sums are read after their counts
  return last;
}

}  // namespace sav
