// The processes of a job and what they exchange: rank, size, all-reduce, broadcast, gather,
// barrier. Programs and the trainer see only this interface; the job's communicator is MPI's
// world when sav is built with MPI (SAV_MPI) and started by mpirun, and one process otherwise,
// where every collective is the identity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sav::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // 0 .. size() - 1
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }
  // This process's place among the job's processes on its own machine (0 .. those - 1): the GPU
  // it takes is cuda:<local_rank>.
  virtual int local_rank() const = 0;
  // How many of the job's processes run on this machine: they share its cores.
  virtual int local_size() const = 0;
  // Whether the collectives below take device memory instead of host memory: true for NCCL's
  // communicator on a GPU (sav/dist/device_communicator.h).
  virtual bool device_buffers() const { return false; }

  // Sums `count` values element-wise over the ranks, in place: every rank ends with the sum. Host
  // memory. Floats are summed in an order fixed by the implementation and the job's size, the
  // same on every rank.
  virtual void all_reduce_sum(float* values, size_t count) = 0;
  virtual void all_reduce_sum(int64_t* values, size_t count) = 0;
  // Copies `bytes` bytes from `root`'s `data` into every other rank's.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // Every rank's bytes (of any length, each its own), concatenated in rank order, on `root`; an
  // empty vector on the other ranks. `sizes`, when given, receives each rank's length on `root`.
  virtual std::vector<uint8_t> gather(const void* data, size_t bytes, int root,
                                      std::vector<size_t>* sizes = nullptr) = 0;
  // Returns when every rank has reached it.
  virtual void barrier() = 0;
  // Ends every process of the job with `status`: what a rank calls after reporting its own
  // failure, so that the others do not wait for it forever. Does not return.
  [[noreturn]] virtual void abort(int status) = 0;

  // "1 process", "MPI: 4 ranks (Open MPI v4.1.4)".
  virtual std::string describe() const = 0;
};

// One process: rank 0 of 1.
std::unique_ptr<Communicator> single_process();

// Whether this build has the MPI implementation.
bool built_with_mpi();

// The job's communicator, made on first use and kept for the process's lifetime (MPI is
// finalised at exit): MPI's world where sav is built with MPI and the process was started by
// mpirun (or another MPI's launcher), otherwise single_process(), without starting MPI.
Communicator& world();

}  // namespace sav::dist
