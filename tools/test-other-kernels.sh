#!/usr/bin/env bash
# Runs the test suite again on other kernels than the ones this CPU would pick: the next lower
# level of sav's own row kernels (SAV_CPU_LEVEL), the OpenBLAS kernels of an older or other CPU
# (SAV_OPENBLAS_CORETYPE), and another thread count than the default (which changes how sums are
# split between threads). A test that holds only with one CPU's kernels (a float compared too
# tightly across batch positions, thread counts or summation orders) then fails here, on one
# machine, rather than on a user's.
#   tools/test-other-kernels.sh [BUILD_DIR] [ctest arguments...]
set -euo pipefail
build_dir=${1:-build}
shift || true
if [[ ! -f "$build_dir/CTestTestfile.cmake" ]]; then
  echo "test-other-kernels: $build_dir holds no built test suite (run 'make' first)" >&2
  exit 2
fi

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx512f && has avx512bw && has avx512cd && has avx512dq && has avx512vl; then
  level=avx2 coretype=Haswell  # what an AVX2 machine (Haswell to Zen 3) runs
elif has avx2 && has fma && has bmi2; then
  level=baseline coretype=Sandybridge  # AVX without AVX2
else
  level=baseline coretype=Prescott  # SSE3: the oldest kernels OpenBLAS has
fi

cores=$(nproc 2>/dev/null || echo 2)
threads=$((cores > 1 ? 1 : 2))  # each test's default is every core

echo "test-other-kernels: SAV_CPU_LEVEL=$level SAV_OPENBLAS_CORETYPE=$coretype" \
     "OMP_NUM_THREADS=$threads"
cd "$build_dir"
SAV_CPU_LEVEL=$level SAV_OPENBLAS_CORETYPE=$coretype OMP_NUM_THREADS=$threads \
  ctest --output-on-failure -j "$cores" "$@"
