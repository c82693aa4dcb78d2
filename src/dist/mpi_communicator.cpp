// The job's communicator over MPI (Open MPI from Debian): MPI_COMM_WORLD on host buffers.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <numeric>

#include "sav/dist/communicator.h"
#include "sav/error.h"

namespace sav::dist {
namespace {

// MPI counts are ints: a long buffer goes in pieces of at most this many elements.
constexpr size_t kMaxPiece = size_t{1} << 30;

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Only the thread that made the world calls MPI; OpenMP threads never do.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // The ranks that share this machine's memory are the ones on this machine.
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
  }

  ~MpiWorld() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void all_reduce_sum(float* values, size_t count) override {
    reduce_pieces(values, count, MPI_FLOAT);
  }
  void all_reduce_sum(int64_t* values, size_t count) override {
    reduce_pieces(values, count, MPI_INT64_T);
  }

  void broadcast(void* data, size_t bytes, int root) override {
    check_root(root);
    auto* at = static_cast<uint8_t*>(data);
    for (size_t done = 0; done < bytes; done += kMaxPiece) {
      const int n = static_cast<int>(std::min(kMaxPiece, bytes - done));
      MPI_Bcast(at + done, n, MPI_BYTE, root, MPI_COMM_WORLD);
    }
  }

  std::vector<uint8_t> gather(const void* data, size_t bytes, int root,
                              std::vector<size_t>* sizes) override {
    check_root(root);
    uint64_t mine = bytes;
    std::vector<uint64_t> all(rank_ == root ? size_ : 0);
    MPI_Gather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, root, MPI_COMM_WORLD);
    std::vector<int> counts, offsets;
    uint64_t total = 0;
    for (uint64_t n : all) {
      offsets.push_back(static_cast<int>(total));
      counts.push_back(static_cast<int>(n));
      total += n;
    }
    // Checked on the root, which alone knows the total; a refusal there aborts the job, since
    // the other ranks are already in the collective.
    if (rank_ == root && total > static_cast<uint64_t>(INT_MAX)) {
      fail("communicator: gathering ", total, " bytes at one rank is over MPI's limit of ", INT_MAX,
           " bytes a collective");
    }
    if (bytes > static_cast<size_t>(INT_MAX)) {
      fail("communicator: a rank's ", bytes, " bytes are over MPI's limit of ", INT_MAX);
    }
    std::vector<uint8_t> out(static_cast<size_t>(total));
    MPI_Gatherv(data, static_cast<int>(bytes), MPI_BYTE, out.data(), counts.data(), offsets.data(),
                MPI_BYTE, root, MPI_COMM_WORLD);
    if (sizes != nullptr) sizes->assign(all.begin(), all.end());
    return out;
  }

  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

  [[noreturn]] void abort(int status) override {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);  // MPI_Abort does not return; this is for the compiler
  }

  std::string describe() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string library(version, static_cast<size_t>(length));
    library = library.substr(0, library.find_first_of(",\n"));
    return "MPI: " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks") + " (" + library +
           ")";
  }

 private:
  void check_root(int root) const {
    if (root < 0 || root >= size_) {
      fail("communicator: root ", root, " does not exist (", size_, " ranks: 0 to ", size_ - 1,
           ")");
    }
  }

  template <typename T>
  void reduce_pieces(T* values, size_t count, MPI_Datatype type) {
    if (size_ == 1) return;
    for (size_t done = 0; done < count; done += kMaxPiece) {
      const int n = static_cast<int>(std::min(kMaxPiece, count - done));
      MPI_Allreduce(MPI_IN_PLACE, values + done, n, type, MPI_SUM, MPI_COMM_WORLD);
    }
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace

bool built_with_mpi() { return true; }

// Whether a launcher started this process as part of a job: Open MPI's mpirun, or another MPI's
// (Hydra's PMI, PMIx) sets these in every process it starts.
bool launched_as_job() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

Communicator& world() {
  if (!launched_as_job()) {
    static const std::unique_ptr<Communicator> one = single_process();
    return *one;
  }
  static MpiWorld mpi;
  return mpi;
}

}  // namespace sav::dist
