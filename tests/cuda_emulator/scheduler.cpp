// The CUDA emulator's scheduler: a kernel's blocks run one after another; inside a block every
// CUDA thread is a fiber (Boost.Context). A thread runs until it reaches __syncthreads() or a
// warp shuffle, or returns. When every thread has stopped, the scheduler releases what can go
// on: a warp whose 32 lanes all wait at a shuffle exchanges its values, a block whose threads
// all wait at __syncthreads() passes the barrier. Anything else (a shuffle some lanes never
// reach, a barrier after threads have returned) is a fault, as it is undefined on a GPU.
#include <boost/context/fiber.hpp>
#include <cstdlib>
#include <exception>
#include <map>
#include <sstream>
#include <vector>

#include "emulator.h"

namespace cuda_emulator {
namespace {

namespace context = boost::context;

constexpr int kWarpSize = 32;
constexpr unsigned int kFullMask = 0xffffffffu;
constexpr size_t kStackBytes = 64 * 1024;

// Stacks are reused from block to block: a block of 1,024 threads would otherwise map 64 MiB
// for every block of every launch.
class StackPool {
 public:
  context::stack_context allocate() {
    char* base;
    if (free_.empty()) {
      base = static_cast<char*>(std::malloc(kStackBytes));
      if (base == nullptr) throw std::bad_alloc();
    } else {
      base = free_.back();
      free_.pop_back();
    }
    context::stack_context stack;
    stack.size = kStackBytes;
    stack.sp = base + kStackBytes;  // stacks grow down
    return stack;
  }
  void deallocate(context::stack_context& stack) noexcept {
    free_.push_back(static_cast<char*>(stack.sp) - stack.size);
  }

 private:
  std::vector<char*> free_;
};

// What Boost.Context asks of a stack allocator, handed out by value.
struct PooledStack {
  StackPool* pool;
  context::stack_context allocate() { return pool->allocate(); }
  void deallocate(context::stack_context& stack) noexcept { pool->deallocate(stack); }
};

StackPool& stack_pool() {
  static StackPool* pool = new StackPool;  // used under the device lock only
  return *pool;
}

enum class Wait { kReady, kRunning, kSync, kShuffle, kDone };

struct Thread {
  context::fiber fiber;      // where the thread goes on
  context::fiber scheduler;  // while it runs: where to go back to
  uint3 index{0, 0, 0};
  Wait wait = Wait::kReady;
  uint64_t shuffle_bits = 0;  // its value going into a shuffle, then the value it receives
  unsigned int shuffle_mask = 0;
  int lane_mask = 0;
};

struct Block {
  std::vector<Thread> threads;
  Thread* current = nullptr;
  std::string fault;
  bool synchronised = false;  // some thread reached a barrier or a shuffle
};

Block* running = nullptr;  // under the device lock

// Threads of a kernel that never synchronises need no fibers: after a launch in which no thread
// reached __syncthreads() or a shuffle, the kernel's later launches call each thread in turn on
// the scheduler's own stack. Should such a kernel synchronise after all, the launch fails loudly
// (it cannot be suspended); it never goes on with wrong results.
struct SyncWithoutFiber {};
bool direct = false;  // the running block's threads are plain calls

// Nothing in CUDA orders the threads of a block between barriers, or the blocks of a grid. The
// emulator runs them in index order, or in reverse (SAV_CUDA_EMULATOR_THREAD_ORDER=reverse): a
// kernel that depends on an order it was not promised gives different results in one of the two.
bool reverse = [] {
  const char* order = std::getenv("SAV_CUDA_EMULATOR_THREAD_ORDER");
  return order != nullptr && std::string(order) == "reverse";
}();

std::map<const void*, bool>& kernel_synchronises() {
  static auto* known = new std::map<const void*, bool>;
  return *known;
}

// Gives control back to the scheduler until it resumes this thread.
void yield(Wait wait) {
  if (direct) throw SyncWithoutFiber{};
  if (running == nullptr) std::abort();  // device code called from the host
  running->synchronised = true;
  Thread& self = *running->current;
  self.wait = wait;
  self.scheduler = std::move(self.scheduler).resume();
}

std::string block_name(uint3 b) {
  std::ostringstream text;
  text << "block (" << b.x << "," << b.y << "," << b.z << ")";
  return text.str();
}

std::string lane_list(const std::vector<int>& lanes) {
  std::ostringstream text;
  for (size_t i = 0; i < lanes.size(); ++i) text << (i ? "," : "") << lanes[i];
  return text.str();
}

// Why a warp's shuffle cannot go on: lanes that never reach it, a warp cut short by the block's
// size, or a partial mask.
std::string shuffle_fault(const Thread* warp, int lanes, int index) {
  std::vector<int> waiting, elsewhere;
  for (int l = 0; l < lanes; ++l) {
    (warp[l].wait == Wait::kShuffle ? waiting : elsewhere).push_back(l);
  }
  std::ostringstream why;
  why << "warp " << index;
  if (!elsewhere.empty()) {
    why << ": lanes " << lane_list(waiting) << " wait at a shuffle that lanes "
        << lane_list(elsewhere) << " never reach (they returned or wait at __syncthreads())";
  } else if (lanes < kWarpSize) {
    why << " has " << lanes
        << " lanes: a shuffle needs a whole warp (make the block a multiple of 32 threads)";
  } else {
    why << ": the emulator runs full-mask shuffles only (mask 0xffffffff)";
  }
  return why.str();
}

// Releases the warps whose lanes all wait at a shuffle. Returns whether any was released;
// a warp where only some lanes reached the shuffle is a fault.
bool release_shuffles(Block& block, int thread_count) {
  bool released = false;
  for (int first = 0; first < thread_count; first += kWarpSize) {
    const int lanes = std::min(kWarpSize, thread_count - first);
    Thread* const warp = &block.threads[static_cast<size_t>(first)];
    int waiting = 0;
    bool full_masks = true;
    for (int l = 0; l < lanes; ++l) {
      if (warp[l].wait != Wait::kShuffle) continue;
      ++waiting;
      full_masks = full_masks && warp[l].shuffle_mask == kFullMask;
    }
    if (waiting == 0) continue;
    if (waiting < kWarpSize || !full_masks) {
      block.fault = shuffle_fault(warp, lanes, first / kWarpSize);
      return false;
    }
    uint64_t bits[kWarpSize];
    for (int l = 0; l < kWarpSize; ++l) bits[l] = warp[l].shuffle_bits;
    for (int l = 0; l < kWarpSize; ++l) {
      const int source = l ^ warp[l].lane_mask;
      warp[l].shuffle_bits = source >= 0 && source < kWarpSize ? bits[source] : bits[l];
      warp[l].wait = Wait::kReady;
    }
    released = true;
  }
  return released;
}

// Releases __syncthreads() once every thread waits there; a barrier some threads never reach
// is a fault.
bool release_barrier(Block& block) {
  int at_barrier = 0, returned = 0;
  for (const Thread& t : block.threads) {
    at_barrier += t.wait == Wait::kSync;
    returned += t.wait == Wait::kDone;
  }
  if (at_barrier == 0) return false;
  if (returned > 0) {
    std::ostringstream why;
    why << at_barrier << " threads wait at __syncthreads() that " << returned
        << " threads never reach (they returned)";
    block.fault = why.str();
    return false;
  }
  for (Thread& t : block.threads) t.wait = Wait::kReady;
  return true;
}

// Runs one block's threads as plain calls, one after another; returns the fault, if any.
std::string run_block_direct(const std::function<void()>& body, dim3 block_dim) {
  direct = true;
  std::string fault;
  try {
    const unsigned int count = block_dim.x * block_dim.y * block_dim.z;
    for (unsigned int k = 0; k < count; ++k) {
      const unsigned int i = reverse ? count - 1 - k : k;
      coordinates.thread = {i % block_dim.x, i / block_dim.x % block_dim.y,
                            i / (block_dim.x * block_dim.y)};
      body();
    }
  } catch (const SyncWithoutFiber&) {
    fault =
        "it reached __syncthreads() or a shuffle, which it had not in an earlier launch: the "
        "emulator ran its threads without fibers and cannot suspend them";
  } catch (const std::exception& e) {
    fault = e.what();
  }
  direct = false;
  return fault;
}

// Runs one block to the end with a fiber per thread; returns the fault, if any, and says whether
// any thread synchronised.
std::string run_block(const std::function<void()>& body, dim3 block_dim, bool* synchronised) {
  const int count = static_cast<int>(block_dim.x * block_dim.y * block_dim.z);
  Block block;
  block.threads.resize(static_cast<size_t>(count));
  Block* const outer = running;
  running = &block;
  for (int i = 0; i < count; ++i) {
    Thread& t = block.threads[static_cast<size_t>(i)];
    const unsigned int u = static_cast<unsigned int>(i);
    t.index = {u % block_dim.x, u / block_dim.x % block_dim.y, u / (block_dim.x * block_dim.y)};
    t.fiber = context::fiber(std::allocator_arg, PooledStack{&stack_pool()},
                             [&t, &body, &block](context::fiber&& scheduler) {
                               t.scheduler = std::move(scheduler);
                               try {
                                 body();
                               } catch (const std::exception& e) {
                                 if (block.fault.empty()) block.fault = e.what();
                               }
                               t.wait = Wait::kDone;
                               return std::move(t.scheduler);
                             });
  }
  for (;;) {
    for (int k = 0; k < count; ++k) {
      Thread& t = block.threads[static_cast<size_t>(reverse ? count - 1 - k : k)];
      if (t.wait != Wait::kReady) continue;
      block.current = &t;
      coordinates.thread = t.index;
      t.wait = Wait::kRunning;
      t.fiber = std::move(t.fiber).resume();
    }
    bool all_done = true;
    for (const Thread& t : block.threads) all_done = all_done && t.wait == Wait::kDone;
    if (all_done || !block.fault.empty()) break;
    if (release_shuffles(block, count)) continue;
    if (!block.fault.empty() || !release_barrier(block)) break;
  }
  running = outer;
  *synchronised = *synchronised || block.synchronised;
  if (block.fault.empty()) {
    bool all_done = true;
    for (const Thread& t : block.threads) all_done = all_done && t.wait == Wait::kDone;
    if (!all_done) block.fault = "threads stopped without a way on";
  }
  return block.fault;  // the threads still waiting are unwound as `block` goes
}

std::string launch_problem(dim3 grid, dim3 block) {
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  const bool fine = grid.x > 0 && grid.y > 0 && grid.z > 0 && threads > 0 && threads <= 1024 &&
                    block.x <= 1024 && block.y <= 1024 && block.z <= 64 && grid.x <= 2147483647u &&
                    grid.y <= 65535 && grid.z <= 65535;
  if (fine) return "";
  std::ostringstream why;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0) {
    why << "a grid or block with no threads";
  } else if (threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) {
    why << "block of " << block.x << "x" << block.y << "x" << block.z
        << " threads: at most 1024 threads, 1024 in x and y, 64 in z";
  } else if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    why << "grid of " << grid.x << "x" << grid.y << "x" << grid.z
        << " blocks: at most 2^31-1 in x, 65535 in y and z";
  }
  return why.str();
}

}  // namespace

void set_reverse_order(bool reversed) { reverse = reversed; }

void sync_threads() { yield(Wait::kSync); }

uint64_t shuffle_xor(unsigned int mask, uint64_t bits, int lane_mask) {
  if (direct) throw SyncWithoutFiber{};
  if (running == nullptr) std::abort();  // device code called from the host
  Thread& self = *running->current;
  self.shuffle_bits = bits;
  self.shuffle_mask = mask;
  self.lane_mask = lane_mask;
  yield(Wait::kShuffle);
  return self.shuffle_bits;
}

namespace {

// Whether a kernel may run: the launch's configuration, and every pointer argument device memory
// (or null). Records the error and returns false otherwise.
bool launchable(const char* name, dim3 grid, dim3 block, const std::vector<const void*>& pointers) {
  const std::string problem = launch_problem(grid, block);
  if (!problem.empty()) {
    record(cudaErrorInvalidConfiguration, std::string("launch of ") + name + ": " + problem);
    return false;
  }
  for (size_t i = 0; i < pointers.size(); ++i) {
    if (pointers[i] != nullptr && !is_device_pointer(pointers[i])) {
      std::ostringstream why;
      why << name << ": argument " << i + 1 << " (" << pointers[i]
          << ") is not device memory: the kernel would read or write the host's";
      record(cudaErrorIllegalAddress, why.str(), true);
      return false;
    }
  }
  return true;
}

// Runs every thread of the grid; a fault is sticky.
void run_grid(const void* kernel, const char* name, dim3 grid, dim3 block,
              const std::function<void()>& body) {
  const Coordinates saved = coordinates;
  coordinates.block_dim = block;
  coordinates.grid_dim = grid;
  const auto known = kernel_synchronises().find(kernel);
  const bool plain_calls = known != kernel_synchronises().end() && !known->second;
  bool synchronised = false;
  const unsigned long long xy = static_cast<unsigned long long>(grid.x) * grid.y;
  const unsigned long long blocks = xy * grid.z;
  for (unsigned long long k = 0; k < blocks; ++k) {
    const unsigned long long b = reverse ? blocks - 1 - k : k;
    const uint3 index{static_cast<unsigned int>(b % grid.x),
                      static_cast<unsigned int>(b / grid.x % grid.y),
                      static_cast<unsigned int>(b / xy)};
    coordinates.block = index;
    const std::string fault =
        plain_calls ? run_block_direct(body, block) : run_block(body, block, &synchronised);
    if (!fault.empty()) {
      kernel_synchronises()[kernel] = true;
      coordinates = saved;
      record(cudaErrorLaunchFailure, std::string(name) + ", " + block_name(index) + ": " + fault,
             true);
      return;
    }
  }
  coordinates = saved;
  if (!plain_calls) kernel_synchronises()[kernel] = synchronised;
  check_guards(name);
}

}  // namespace

void launch(const void* kernel, const char* name, dim3 grid, dim3 block, cudaStream_t stream,
            const std::function<void()>& body, const void* const* pointers, int pointer_count) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (sticky_error() != cudaSuccess) {
    record(sticky_error(), cudaGetErrorString(sticky_error()), true);
    return;
  }
  if (check_stream(stream, name) != cudaSuccess) return;
  std::vector<const void*> arguments(pointers, pointers + pointer_count);
  if (!launchable(name, grid, block, arguments)) return;
  // Checked again when a graph replays it: the memory may be gone by then.
  enqueue(stream, name, true, [=] {
    if (launchable(name, grid, block, arguments)) run_grid(kernel, name, grid, block, body);
    return sticky_error();
  });
}

}  // namespace cuda_emulator

// One thread runs at a time and gives way only at a barrier or a shuffle: nothing can come
// between the read and the write.
unsigned int atomicAdd(unsigned int* address, unsigned int value) {
  const unsigned int old = *address;
  *address = old + value;
  return old;
}

int atomicAdd(int* address, int value) {
  const int old = *address;
  *address = static_cast<int>(static_cast<unsigned int>(old) + static_cast<unsigned int>(value));
  return old;  // wraps on overflow, as the GPU's does
}

// Out of line, so that the compiler keeps writes on their side of it; the rest is already so.
void __threadfence() {}
