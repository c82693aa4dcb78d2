#!/usr/bin/env bash
# tools/gpu-check.sh and tools/gpu-machine-deps.sh, checked where they can be without a GPU and
# in a few seconds: their arguments and --help, gpu-check's dry run (its steps, budgets and
# commands), the unpacking of made-up .deb files (Debian's OpenBLAS alternatives links, the .pc
# files moved to the prefix), and whole gpu-check runs on stand-ins for nvidia-smi, CMake and the
# programs, with a GPU and without. Nothing is downloaded or built.
# Usage: gpu_check_tools.sh SOURCE_DIR
set -u

source_dir=${1:?usage: gpu_check_tools.sh SOURCE_DIR}
check=$source_dir/tools/gpu-check.sh
deps=$source_dir/tools/gpu-machine-deps.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# expect STATUS TEXT COMMAND...: COMMAND exits with STATUS and its output contains TEXT.
expect() {
  local status=$1 text=$2 output got
  shift 2
  output=$("$@" 2>&1 < /dev/null)
  got=$?
  if [[ $got -eq $status && "$output" == *"$text"* ]]; then
    ok "${*#"$source_dir"/} -> $got"
  else
    fail "${*#"$source_dir"/}: exit $got (expected $status), expected to contain '$text'; output:"
    echo "$output" | tail -n 5
  fi
}

# Made-up CIFAR-10 and recipe files: the dry run only looks for them.
mkdir -p "$tmp/cifar" "$tmp/full"
touch "$tmp/cifar/data_batch_1.bin" "$tmp/cifar/test_batch.bin" "$tmp/full/something"
echo '{"training": {"epochs": 300}}' > "$tmp/strong.json"

# gpu-check: help and bad arguments (exit 2, naming what is wrong).
expect 0 "Usage: tools/gpu-check.sh [OPTIONS] OUT_DIR" "$check" --help
expect 2 "no OUT_DIR" "$check"
expect 2 "unknown option '--bogus'" "$check" --bogus "$tmp/out"
expect 2 "one OUT_DIR only" "$check" "$tmp/out" "$tmp/out2"
expect 2 "--epochs needs a positive whole number, not '0'" "$check" --epochs 0 "$tmp/out"
expect 2 "--budget needs a positive whole number, not 'soon'" "$check" --budget soon "$tmp/out"
expect 2 "--jobs needs a value" "$check" "$tmp/out" --jobs
expect 2 "are alternatives" "$check" --system-deps --debs "$tmp" "$tmp/out"
expect 2 "--prefix $tmp: no usr/bin/pkg-config there" "$check" --prefix "$tmp" "$tmp/out"
expect 2 "--debs $tmp/none: no such folder" "$check" --debs "$tmp/none" "$tmp/out"
expect 2 "--data $tmp/full: no CIFAR-10 binary batches there" "$check" --data "$tmp/full" "$tmp/out"
expect 2 "$tmp/full is not empty" "$check" --data "$tmp/cifar" "$tmp/full"
if [[ ! -e "$tmp/out" ]]; then
  ok "bad arguments make no OUT_DIR"
else
  fail "bad arguments made $tmp/out"
fi

# The dry run: every step in order, with its share of the budget and its command.
plan=$("$check" --dry-run --budget 500 --data "$tmp/cifar" --strong-config "$tmp/none.json" \
         --build-dir "$tmp/build" --epochs 2 "$tmp/out" 2>&1)
status=$?
if [[ $status -eq 0 ]]; then
  ok "--dry-run -> 0"
else
  fail "--dry-run: exit $status"
fi
steps=$(echo "$plan" | awk '/^[a-z]/ && $2 ~ /^[0-9]+$/ { printf "%s ", $1 }')
expected="gpu deps configure build cuda-tests bench-cuda compare-fp32 compare-tf32 train-seed train-strong "
if [[ "$steps" == "$expected" ]]; then
  ok "the dry run lists the ten steps in order"
else
  fail "the dry run lists '$steps', not '$expected'"
fi
total=$(echo "$plan" | awk '/^[a-z]/ && $2 ~ /^[0-9]+$/ { t += $2 } END { print t + 0 }')
largest=$(echo "$plan" | awk '/^[a-z]/ && $2 ~ /^[0-9]+$/ && $2 > m { m = $2; s = $1 } END { print s }')
if [[ $total -gt 490 && $total -le 500 && "$largest" == build ]]; then
  ok "the steps' budgets add up to $total s of 500, the build's the largest"
else
  fail "the steps' budgets add up to $total s of 500, the largest $largest's"
fi
short=$("$check" --dry-run --budget 100 "$tmp/out" 2>&1 | awk '/^[a-z]/ && $2 ~ /^[0-9]+$/ { printf "%s ", $2 }')
if [[ "$short" == "15 30 55 0 0 0 0 0 0 0 " ]]; then
  ok "a short budget goes to the first steps' least times first: $short"
else
  fail "a budget of 100 s is shared as $short"
fi
for text in "unpack $source_dir/.gpu-deps/debs into $source_dir/.gpu-deps/root" \
            "-DCMAKE_PREFIX_PATH=$source_dir/.gpu-deps/root/usr" "-DSAV_CUDA=ON" \
            "--target sav_train sav_tests sav_bench_cuda" "--gtest_filter=Cuda\\*" \
            "compare_pytorch.py --device cuda --sav-bench $tmp/build/sav_bench_cuda --tf32" \
            "sav_train --config $source_dir/data/config.json --data $tmp/cifar --device cuda --tf32 --epochs 2" \
            "skip: no recipe $tmp/none.json"; do
  if [[ "$plan" == *"$text"* ]]; then
    ok "the dry run shows: $text"
  else
    fail "the dry run does not show: $text"
  fi
done
if [[ ! -e "$tmp/out" ]]; then
  ok "the dry run makes no OUT_DIR"
else
  fail "the dry run made $tmp/out"
fi

plan=$("$check" --dry-run --system-deps --data "$tmp/cifar" --strong-config "$tmp/strong.json" \
         "$tmp/out" 2>&1)
if [[ "$plan" == *"use the system's libraries"* && "$plan" != *CMAKE_PREFIX_PATH* ]]; then
  ok "--system-deps: no prefix"
else
  fail "--system-deps: the plan still names a prefix"
fi
if [[ "$plan" == *"--config $tmp/strong.json"* ]]; then
  ok "the strong recipe runs where it exists"
else
  fail "the strong recipe $tmp/strong.json is not run"
fi

mkdir -p "$tmp/prefix/usr/bin" && touch "$tmp/prefix/usr/bin/pkg-config" &&
  chmod +x "$tmp/prefix/usr/bin/pkg-config"
plan=$("$check" --dry-run --prefix "$tmp/prefix" --data "$tmp/cifar" "$tmp/out" 2>&1)
if [[ "$plan" == *"use the prefix $tmp/prefix"* && "$plan" == *"-DCMAKE_PREFIX_PATH=$tmp/prefix/usr"* ]]; then
  ok "--prefix DIR: the build looks there"
else
  fail "--prefix DIR: the plan does not use it"
fi

# gpu-machine-deps: help and bad arguments.
expect 0 "tools/gpu-machine-deps.sh download" "$deps" --help
expect 2 "tools/gpu-machine-deps.sh unpack" "$deps"
expect 2 "unknown command 'fetch'" "$deps" fetch
expect 2 "unknown argument '--bogus'" "$deps" unpack --bogus
expect 2 "--root needs a folder" "$deps" env --root
expect 1 "no .deb files in $tmp/full" "$deps" unpack --debs "$tmp/full" --root "$tmp/root"
expect 1 "was not made by" "$deps" env --root "$tmp/full"

# Unpacking: made-up packages laid out as Debian's OpenBLAS ones are.
if command -v dpkg-deb > /dev/null && command -v dpkg > /dev/null; then
  make_deb() {  # make_deb NAME: a package of the files under $tmp/pkg/NAME, into $tmp/debs
    mkdir -p "$tmp/pkg/$1/DEBIAN" "$tmp/debs"
    printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n' \
      "$1" > "$tmp/pkg/$1/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$tmp/pkg/$1" "$tmp/debs/$1.deb" > /dev/null
  }
  a=x86_64-linux-gnu
  p="$tmp/pkg/fake-openblas/usr"
  mkdir -p "$p/lib/$a/openblas-pthread/pkgconfig" "$p/include/$a/openblas-pthread" "$p/bin"
  touch "$p/lib/$a/openblas-pthread/libopenblas.so.0" "$p/lib/$a/openblas-pthread/libblas.so.3" \
        "$p/include/$a/openblas-pthread/cblas.h" "$p/bin/pkg-config"
  # ${libdir} and ${prefix} are pkg-config's, not the shell's.
  # shellcheck disable=SC2016
  printf 'libdir=/usr/lib/%s/openblas-pthread/\nincludedir=/usr/include/%s/openblas-pthread/\nName: openblas\nVersion: 0\nDescription: x\nLibs: -L${libdir} -lopenblas\nCflags: -I${includedir}\n' \
    "$a" "$a" > "$p/lib/$a/openblas-pthread/pkgconfig/openblas.pc"
  mkdir -p "$tmp/pkg/fake-json/usr/share/pkgconfig"
  # shellcheck disable=SC2016
  printf 'prefix=/usr\nincludedir=${prefix}/include\nName: j\nVersion: 0\nDescription: x\nCflags: -I/usr/include/j\n' \
    > "$tmp/pkg/fake-json/usr/share/pkgconfig/j.pc"
  make_deb fake-openblas
  make_deb fake-json
  root="$tmp/root"
  for round in first second; do
    expect 0 "unpacked 2 packages into $root" "$deps" unpack --debs "$tmp/debs" --root "$root"
    lib="$root/usr/lib/$a"
    if [[ "$(readlink "$lib/libopenblas.so.0")" == openblas-pthread/libopenblas.so.0 &&
          "$(readlink "$lib/libblas.so.3")" == openblas-pthread/libblas.so.3 &&
          "$(readlink "$root/usr/include/$a/cblas.h")" == openblas-pthread/cblas.h &&
          -e "$lib/pkgconfig/openblas.pc" && ! -e "$lib/liblapack.so.3" ]]; then
      ok "unpack ($round time): the alternatives' links, relative, to what is there"
    else
      fail "unpack ($round time): the alternatives' links are wrong: $(find "$root" -type l -printf '%p -> %l; ')"
    fi
    if grep -qx "libdir=$lib/openblas-pthread/" "$lib/pkgconfig/openblas.pc" &&
         grep -qx "prefix=$root/usr" "$root/usr/share/pkgconfig/j.pc" &&
         grep -q -- "-I$root/usr/include/j" "$root/usr/share/pkgconfig/j.pc"; then
      ok "unpack ($round time): the .pc files name the prefix"
    else
      fail "unpack ($round time): the .pc files are: $(cat "$lib/pkgconfig/openblas.pc" "$root/usr/share/pkgconfig/j.pc")"
    fi
  done
  env_lines=$("$deps" env --root "$root")
  if [[ "$env_lines" == *"export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$root/usr/share/pkgconfig"* &&
        "$env_lines" == *"export CMAKE_PREFIX_PATH=$root/usr"* &&
        "$env_lines" == *"export LD_LIBRARY_PATH=$lib"* ]]; then
    ok "env points pkg-config (alone), CMake and the loader at the prefix"
  else
    fail "env says: $env_lines"
  fi
  expect 2 "$tmp/full is not empty and was not made by" "$deps" unpack --debs "$tmp/debs" --root "$tmp/full"
  rm "$tmp/debs/fake-openblas.deb"
  expect 1 "no openblas.pc among the unpacked packages" "$deps" unpack --debs "$tmp/debs" --root "$root"
else
  echo "skipped: the unpacking checks (no dpkg-deb here)"
fi

# Whole runs on stand-ins for nvidia-smi, CMake, PyTorch's comparison and sav's programs, which
# print what the real ones print (FAKE_GPU=1) or what they print without a GPU (FAKE_GPU=0): the
# steps' verdicts, their figures in summary.txt and the exit status.
fake=$tmp/fake
mkdir -p "$fake/bin" "$fake/programs"
cat > "$fake/bin/nvidia-smi" <<'EOS'
#!/usr/bin/env bash
if [[ $FAKE_GPU == 0 ]]; then echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9; fi
if [[ "$*" == *--query-gpu* ]]; then echo "NVIDIA H200, 143771 MiB, 580.159.03"; else echo "| NVIDIA H200 |"; fi
EOS
cat > "$fake/bin/cmake" <<'EOS'
#!/usr/bin/env bash
if [[ $1 == --build ]]; then
  mkdir -p "$2/tests" && cp "$FAKE/programs/sav_tests" "$2/tests/" &&
    cp "$FAKE/programs/sav_train" "$FAKE/programs/sav_bench_cuda" "$2/"
  exit
fi
while [[ $# -gt 0 && $1 != -B ]]; do shift; done
mkdir -p "$2" && touch "$2/CMakeCache.txt"
echo "-- sav: CUDA backend ON"
echo "-- sav: NCCL communicator OFF"
EOS
cat > "$fake/bin/python3" <<'EOS'
#!/usr/bin/env bash
if [[ $FAKE_GPU == 0 ]]; then echo "error: the PyTorch run failed: PyTorch sees no CUDA device" >&2; exit 1; fi
cat <<EOT
GPU, batch 100, TF32 off, PyTorch 2.11.0+cu130
                       sav       PyTorch   sav / PyTorch
train step      5231.4 i/s    9120.3 i/s           0.57x
inference      20187.7 i/s   31025.5 i/s           0.65x
EOT
EOS
cat > "$fake/programs/sav_tests" <<'EOS'
#!/usr/bin/env bash
echo "[==========] Running 39 tests from 3 test suites."
if [[ $FAKE_GPU == 2 ]]; then
  echo "[  FAILED  ] Cuda/CudaOps.MatchesCentralDifferences/gelu, where GetParam() = gelu (5 ms)"
  echo "[  PASSED  ] 37 tests."
  echo "[  SKIPPED ] 1 test, listed below:"
  echo "[  FAILED  ] 1 test, listed below:"
  echo "[  FAILED  ] Cuda/CudaOps.MatchesCentralDifferences/gelu, where GetParam() = gelu"
  echo " 1 FAILED TEST"
  exit 1
elif [[ $FAKE_GPU == 0 ]]; then
  for i in 1 2 3; do echo "tests/test_cuda.cpp:72: Skipped"; echo "no usable CUDA device"; done
  echo "[  PASSED  ] 2 tests."
  echo "[  SKIPPED ] 37 tests, listed below:"
else
  echo "[  PASSED  ] 38 tests."
  echo "[  SKIPPED ] 1 test, listed below:"
  echo "[  SKIPPED ] Cuda.WithoutAGpuTheDeviceIsAClearError"
fi
EOS
cat > "$fake/programs/sav_bench_cuda" <<'EOS'
#!/usr/bin/env bash
json=${1#--benchmark_out=}
if [[ $FAKE_GPU == 0 ]]; then
  echo '{"benchmarks": [{"name": "BM_CudaGemm", "error_occurred": true, "error_message": "no usable CUDA device"}]}' > "$json"
  echo "BM_CudaTrainStep/tf32:0/manual_time ERROR OCCURRED: 'no usable CUDA device'"
  exit 0
fi
echo '{"benchmarks": []}' > "$json"
echo "BM_CudaTrainStep/tf32:0/graphs:0/manual_time        12.3 ms         12.4 ms           57"
echo "BM_CudaTrainStep/tf32:0/graphs:1/manual_time        11.1 ms         11.2 ms           63"
echo "BM_CudaTrainStep/tf32:1/graphs:0/manual_time        9.87 ms         9.90 ms           71"
echo "BM_CudaInference/tf32:0/manual_time        3.21 ms         3.30 ms          218"
echo "BM_CudaInference/tf32:1/manual_time        2.50 ms         2.52 ms          280"
EOS
cat > "$fake/programs/sav_train" <<'EOS'
#!/usr/bin/env bash
if [[ $FAKE_GPU == 0 ]]; then echo "sav_train: device cuda:0 is not available: no CUDA driver"; exit 1; fi
epochs=""
while [[ $# -gt 0 ]]; do case $1 in --out) out=$2; shift 2 ;; --epochs) epochs=$2; shift 2 ;; *) shift ;; esac; done
stopped=0
if [[ -z $epochs ]]; then epochs=4 stopped=1; fi  # as if SIGINT came after 4 epochs
echo "data: 45000 training, 5000 validation, 10000 test images from somewhere"
mkdir -p "$out/outputs"
echo "epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,images_per_second,elapsed_seconds" > "$out/outputs/train_log.csv"
for ((e = 1; e <= epochs; e++)); do
  echo "$e,2,0.3,2,0.3,2,0.$((40 + e)),9000,$((7 + 5 * e))" >> "$out/outputs/train_log.csv"
done
if [[ $stopped -eq 1 ]]; then echo "stopped after epoch 4 (step 352)"; exit 130; fi
EOS
chmod +x "$fake/bin/"* "$fake/programs/"*

fake_run() {  # fake_run GPU OUT: a whole run on the stand-ins; prints its exit status
  PATH="$fake/bin:$PATH" FAKE="$fake" FAKE_GPU=$1 "$check" --system-deps --data "$tmp/cifar" \
    --strong-config "$tmp/strong.json" --build-dir "$tmp/fake-build-$1" "$2" > "$2.out" 2>&1
  echo $?
}
# expect_line FILE STEP RESULT TEXT: FILE's line for STEP has RESULT and contains TEXT.
expect_line() {
  local line
  line=$(grep -E "^$2 " "$1")
  if [[ "$line" =~ ^$2\ +$3\  && "$line" == *"$4"* ]]; then
    ok "$(basename "$(dirname "$1")"): $2 $3: $4"
  else
    fail "$(basename "$(dirname "$1")"): expected $2 $3 with '$4'; the line is: $line"
  fi
}

status=$(fake_run 1 "$tmp/with-gpu")
summary=$tmp/with-gpu/summary.txt
if [[ $status -eq 0 ]]; then ok "with a GPU: exit 0"; else fail "with a GPU: exit $status"; cat "$tmp/with-gpu.out"; fi
expect_line "$summary" gpu PASS "NVIDIA H200, 143771 MiB, driver 580.159.03"
expect_line "$summary" deps SKIP "--system-deps"
expect_line "$summary" configure PASS "CUDA backend ON; NCCL communicator OFF"
expect_line "$summary" build PASS ""
expect_line "$summary" cuda-tests PASS "38 passed, 1 skipped"
expect_line "$summary" bench-cuda PASS "TrainStep tf32:0 graphs:0 12.3 ms; TrainStep tf32:0 graphs:1 11.1 ms; TrainStep tf32:1 graphs:0 9.87 ms; Inference tf32:0 3.21 ms"
expect_line "$summary" compare-tf32 PASS "train step sav 5231.4 i/s, PyTorch 9120.3 i/s (sav/PyTorch 0.57x); inference sav 20187.7 i/s"
expect_line "$summary" train-seed PASS "3 epochs, 5.0 s/epoch after the first, 9000 img/s, test accuracy 0.430; 100 epochs projected 507 s (45000 training"
expect_line "$summary" train-strong PASS "4 epochs, 5.0 s/epoch after the first, 9000 img/s, test accuracy 0.440; 300 epochs projected 1507 s (45000 training, 5000 validation, 10000 test images); stopped when its time was up"
if [[ "$(tail -n 1 "$summary")" == "gpu-check: 9 passed, 0 failed, 1 skipped in "* &&
      -f "$tmp/with-gpu/train-seed_log.csv" && -f "$tmp/with-gpu/cuda-tests.log" ]]; then
  ok "with a GPU: the totals, and the logs beside summary.txt"
else
  fail "with a GPU: the summary ends '$(tail -n 1 "$summary")'; OUT_DIR holds $(ls "$tmp/with-gpu")"
fi

status=$(fake_run 0 "$tmp/without-gpu")
summary=$tmp/without-gpu/summary.txt
if [[ $status -eq 1 ]]; then ok "without a GPU: exit 1"; else fail "without a GPU: exit $status"; fi
expect_line "$summary" gpu FAIL "nvidia-smi finds no GPU: NVIDIA-SMI has failed"
expect_line "$summary" cuda-tests FAIL "2 passed, 37 skipped: 3 skipped for want of a usable CUDA device"
expect_line "$summary" bench-cuda FAIL "no usable CUDA device"
expect_line "$summary" compare-fp32 FAIL "PyTorch sees no CUDA device"
expect_line "$summary" train-seed FAIL "device cuda:0 is not available"
if [[ "$(tail -n 1 "$summary")" == "gpu-check: 2 passed, 7 failed, 1 skipped in "* ]]; then
  ok "without a GPU: every step has its line, and the totals"
else
  fail "without a GPU: the summary ends '$(tail -n 1 "$summary")'"
fi

status=$(fake_run 2 "$tmp/failing-test")
if [[ $status -eq 1 ]]; then ok "a failing CUDA test: exit 1"; else fail "a failing CUDA test: exit $status"; fi
expect_line "$tmp/failing-test/summary.txt" cuda-tests FAIL \
  "37 passed, 1 skipped, 1 failed: Cuda/CudaOps.MatchesCentralDifferences/gelu; log: cuda-tests.log"
expect_line "$tmp/failing-test/summary.txt" train-seed PASS "3 epochs"

echo "gpu_check_tools: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
