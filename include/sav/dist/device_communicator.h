// The job's collectives on GPU memory: NCCL between the CUDA devices of the job's ranks, set up
// the way PyTorch's DDP and Horovod set it up. Rank 0 makes NCCL's unique id and the host
// communicator (MPI's world, or one process) carries it to the other ranks; each rank then works
// on its own GPU, on the CUDA backend's stream of that device, behind the kernels sav queued
// there.
//
// NCCL lives in a module of its own (libsav_nccl.so, built where CMake finds CUDA and NCCL) that
// is loaded on first use: a program that never asks for a device communicator, or runs on a
// machine without a GPU, never maps the CUDA or NCCL libraries.
#pragma once

#include <memory>

#include "sav/device.h"
#include "sav/dist/communicator.h"

namespace sav::dist {

// Whether this build has the NCCL communicator (CMake found the CUDA toolkit and NCCL).
bool built_with_nccl();

// NCCL's communicator over the ranks of `host` (rank r of `host` is rank r of it) on `device`,
// each rank its own GPU: usually cuda:<host.local_rank()>. Collective: every rank of `host` calls
// it, and either every rank gets its communicator or every rank throws sav::Error, the failing
// ranks with what was missing (a CUDA device, this build's NCCL, the GPU) and what to do. `host`
// takes host memory, and must outlive the result, whose abort() ends the job through it.
//
// The result's collectives take device pointers on `device` (device_buffers() is true).
// all_reduce_sum and broadcast are queued on the device's stream and return at once: work queued
// after them, and any download, sees their result. gather and barrier wait for the device;
// gather returns the root's bytes in host memory.
std::unique_ptr<Communicator> device_communicator(Communicator& host, Device device);

}  // namespace sav::dist
