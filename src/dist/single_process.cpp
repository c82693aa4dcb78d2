// The job of one process, and world() where sav is built without MPI.
#include <cstdlib>
#include <cstring>

#include "sav/dist/communicator.h"
#include "sav/error.h"

namespace sav::dist {
namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(int64_t*, size_t) override {}
  void broadcast(void*, size_t, int root) override { check_root(root); }
  std::vector<uint8_t> gather(const void* data, size_t bytes, int root,
                              std::vector<size_t>* sizes) override {
    check_root(root);
    const auto* begin = static_cast<const uint8_t*>(data);
    if (sizes != nullptr) *sizes = {bytes};
    return std::vector<uint8_t>(begin, begin + bytes);
  }
  void barrier() override {}
  [[noreturn]] void abort(int status) override { std::_Exit(status); }
  std::string describe() const override { return "1 process"; }

 private:
  static void check_root(int root) {
    if (root != 0) fail("communicator: root ", root, " does not exist (1 process: rank 0)");
  }
};

}  // namespace

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

#ifndef SAV_WITH_MPI
bool built_with_mpi() { return false; }

Communicator& world() {
  static const std::unique_ptr<Communicator> one = single_process();
  return *one;
}
#endif

}  // namespace sav::dist
