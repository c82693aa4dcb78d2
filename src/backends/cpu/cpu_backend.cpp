// CpuBackend: threads, memory and the matrix products.
#include "backends/cpu/cpu_backend.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "backends/cpu/openblas.h"
#include "backends/cpu/simd.h"
#include "sav/error.h"

namespace sav {
namespace {

CBLAS_TRANSPOSE to_cblas(Transpose t) { return t == Transpose::kYes ? CblasTrans : CblasNoTrans; }

}  // namespace

// OpenMP's default: OMP_NUM_THREADS where set, else every core. The kernel level is settled
// here, so that a bad SAV_CPU_LEVEL stops the program before any kernel runs.
CpuBackend::CpuBackend() {
  cpu::cpu_level();
  set_num_threads(omp_get_max_threads());
}

std::string CpuBackend::describe() const {
  const cpu::OpenBlas& blas = cpu::openblas();
  return "cpu: " + std::string(blas.config()) + " (" + blas.corename() + " kernels), " +
         cpu::to_string(cpu::cpu_level()) + " row kernels, " + std::to_string(threads_) +
         (threads_ == 1 ? " thread" : " threads");
}

void CpuBackend::set_num_threads(int threads) {
  if (threads < 0) fail("cpu: thread count must be 0 (all cores) or positive, got ", threads);
  threads_ = threads == 0 ? omp_get_num_procs() : threads;
  omp_set_num_threads(threads_);
  cpu::openblas().set_num_threads(threads_);
}

void* CpuBackend::allocate(size_t bytes) { return pool_.allocate(bytes); }

void CpuBackend::deallocate(void* ptr, size_t bytes) noexcept { pool_.deallocate(ptr, bytes); }

void CpuBackend::upload(void* dst, const void* host_src, size_t bytes) {
  std::memcpy(dst, host_src, bytes);
}

void CpuBackend::download(void* host_dst, const void* src, size_t bytes) {
  std::memcpy(host_dst, src, bytes);
}

void CpuBackend::copy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

void CpuBackend::fill(float* dst, float value, int64_t n) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dst[i] = value;
}

void CpuBackend::zero(const FloatSpan* spans, int count) {
  for (int k = 0; k < count; ++k) fill(spans[k].data, 0.0f, spans[k].n);
}

void CpuBackend::gemm(Transpose trans_a, Transpose trans_b, int m, int n, int k, float alpha,
                      const float* a, int lda, const float* b, int ldb, float beta, float* c,
                      int ldc) {
  cpu::openblas().sgemm(CblasRowMajor, to_cblas(trans_a), to_cblas(trans_b), m, n, k, alpha, a, lda,
                        b, ldb, beta, c, ldc);
}

void CpuBackend::gemm_strided_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k,
                                      float alpha, const float* a, int lda, int64_t stride_a,
                                      const float* b, int ldb, int64_t stride_b, float beta,
                                      float* c, int ldc, int64_t stride_c, int batch) {
  // The attention products are small (65 x 65 x 32): one single-threaded sgemm per thread beats
  // splitting each product. The OpenMP build of OpenBLAS runs single-threaded inside a parallel
  // region; the pthreads build would start its own threads, so it gets a serial loop.
  const bool parallel = cpu::openblas().uses_openmp() && batch > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int i = 0; i < batch; ++i) {
    gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
         c + i * stride_c, ldc);
  }
}

void CpuBackend::gemm_batched(Transpose trans_a, Transpose trans_b, int m, int n, int k,
                              float alpha, const MatrixBatchIn& a, const MatrixBatchIn& b,
                              float beta, const MatrixBatchOut& c, int outer, int inner) {
  // One single-threaded sgemm per thread, as in gemm_strided_batched.
  const int64_t count = int64_t{outer} * inner;
  const bool parallel = cpu::openblas().uses_openmp() && count > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t g = 0; g < count; ++g) {
    const int64_t i = g / inner, j = g % inner;
    gemm(trans_a, trans_b, m, n, k, alpha, a.data + i * a.outer_stride + j * a.inner_stride, a.ld,
         b.data + i * b.outer_stride + j * b.inner_stride, b.ld, beta,
         c.data + i * c.outer_stride + j * c.inner_stride, c.ld);
  }
}

}  // namespace sav
