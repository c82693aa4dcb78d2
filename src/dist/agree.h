// How the ranks set up a device communicator without leaving one another waiting: each rank does
// what it can do alone first, then they agree over the host communicator whether every rank got
// through, before any rank enters a collective that a failed rank would never join.
#pragma once

#include <cstdint>
#include <string>

#include "sav/dist/communicator.h"
#include "sav/error.h"

namespace sav::dist {

// Collective: every rank of `host` calls it with what it could not do (`problem`, empty when it
// could do everything). Returns when no rank has a problem; otherwise throws sav::Error on every
// rank, with its own problem where it has one and the count of failed ranks where it has not.
inline void agree_every_rank_is_ready(Communicator& host, const std::string& problem) {
  if (host.device_buffers()) {
    fail("device communicator: the host communicator (", host.describe(),
         ") takes device memory; pass the job's host communicator (sav::dist::world())");
  }
  int64_t failed = problem.empty() ? 0 : 1;
  host.all_reduce_sum(&failed, 1);
  if (!problem.empty()) {
    if (host.size() == 1) fail("device communicator: ", problem);
    fail("device communicator (rank ", host.rank(), " of ", host.size(), "): ", problem);
  }
  if (failed > 0) {
    fail("device communicator: ", failed, " of ", host.size(),
         " ranks could not set theirs up (their own messages say why)");
  }
}

}  // namespace sav::dist
