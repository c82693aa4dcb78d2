#!/usr/bin/env bash
# Everything a GPU machine should prove about sav, in one command that fits in 9 minutes on a
# fresh machine that reaches no package registry (docs/gpu.md):
#   gpu           nvidia-smi: which GPU, which driver
#   deps          unpack the carried .deb files into a private prefix (tools/gpu-machine-deps.sh)
#   configure     CMake, Release, CUDA on, pointed at the prefix (pkg-config at the prefix alone)
#   build         sav_train, sav_tests, sav_bench_cuda and the CUDA module
#   cuda-tests    sav_tests' Cuda* tests on the real GPU (a test skipped for want of a GPU fails)
#   bench-cuda    build/sav_bench_cuda: the model's products, a training step, inference
#   compare-fp32  bench/compare_pytorch.py --device cuda: sav against PyTorch on the same GPU
#   compare-tf32  the same with --tf32
#   train-seed    sav_train --device cuda --tf32 on data/config.json for --epochs epochs, and the
#                 100-epoch time it projects
#   train-strong  --strong-config (data/recipes/cifar10-strong.json), if it exists, for as many of
#                 its epochs as fit: stopped by SIGINT when its time is up (it saves and exits)
# Each step has a share of the time budget (unused time passes to the steps after it) and is
# stopped when it runs out; a failed step does not stop the others. Figures and logs go to
# OUT_DIR, with summary.txt: one line a step, PASS, FAIL, TIMEOUT or SKIP, and its figures.
#
# Usage: tools/gpu-check.sh [OPTIONS] OUT_DIR
#   --debs DIR           .deb files to unpack (default .gpu-deps/debs, from
#                        'tools/gpu-machine-deps.sh download' on a machine with apt)
#   --prefix DIR         use a prefix unpacked before ('tools/gpu-machine-deps.sh unpack --root DIR')
#   --system-deps        use the system's libraries, no prefix
#   --data DIR           CIFAR-10 binary batches (default data/cifar-10-batches-bin; without
#                        them the training steps are skipped)
#   --build-dir DIR      CMake build folder (default build)
#   --epochs N           epochs of the seed's recipe to time (default 3)
#   --strong-config FILE the strong recipe (default data/recipes/cifar10-strong.json)
#   --strong-epochs N    its epochs to time (default: the recipe's, until the time is up)
#   --budget SECONDS     time for everything (default 530: 9 minutes with room to stop)
#   --jobs N             build jobs (default: the number of cores)
#   --force              write into an OUT_DIR that is not empty
#   --dry-run            print the steps, their budgets and commands; run nothing
#   -h, --help           this text
# Exit status: 0 when no step failed, 1 when one did, 2 for bad arguments.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
arch=x86_64-linux-gnu

usage() { sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
  echo "gpu-check: $*" >&2
  exit 2
}
positive_int() { [[ "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "$1 needs a positive whole number, not '$2'"; }

debs="$repo/.gpu-deps/debs" debs_given=0 prefix="" system_deps=0
data="$repo/data/cifar-10-batches-bin" data_given=0
build="$repo/build" epochs=3 strong_config="$repo/data/recipes/cifar10-strong.json"
strong_epochs=0 budget=530 jobs=$(nproc 2>/dev/null || echo 4) force=0 dry_run=0 out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --force) force=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    --system-deps) system_deps=1; shift ;;
    --debs | --prefix | --data | --build-dir | --epochs | --strong-config | --strong-epochs | \
      --budget | --jobs)
      [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
      case "$1" in
        --debs) debs=$(realpath -m "$2"); debs_given=1 ;;
        --prefix) prefix=$(realpath -m "$2") ;;
        --data) data=$(realpath -m "$2"); data_given=1 ;;
        --build-dir) build=$(realpath -m "$2") ;;
        --epochs) positive_int "$1" "$2"; epochs=$2 ;;
        --strong-config) strong_config=$(realpath -m "$2") ;;
        --strong-epochs) positive_int "$1" "$2"; strong_epochs=$2 ;;
        --budget) positive_int "$1" "$2"; budget=$2 ;;
        --jobs) positive_int "$1" "$2"; jobs=$2 ;;
      esac
      shift 2
      ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z "$out" ]] || die "one OUT_DIR only: '$out' and '$1' (see --help)"
      out=$(realpath -m "$1")
      shift
      ;;
  esac
done
[[ -n "$out" ]] || die "no OUT_DIR: tools/gpu-check.sh [OPTIONS] OUT_DIR (see --help)"
[[ $((system_deps + debs_given)) -eq 0 || ( -z "$prefix" && $((system_deps + debs_given)) -eq 1 ) ]] ||
  die "--debs, --prefix and --system-deps are alternatives: give one"
if [[ -n "$prefix" && ! -x "$prefix/usr/bin/pkg-config" ]]; then
  die "--prefix $prefix: no usr/bin/pkg-config there (make it with tools/gpu-machine-deps.sh unpack --root DIR)"
fi
[[ $debs_given -eq 0 || -d "$debs" ]] || die "--debs $debs: no such folder"
have_data=1
if [[ ! -f "$data/data_batch_1.bin" || ! -f "$data/test_batch.bin" ]]; then
  [[ $data_given -eq 0 ]] || die "--data $data: no CIFAR-10 binary batches there (data_batch_1.bin, test_batch.bin)"
  have_data=0
fi
if [[ $dry_run -eq 0 && -d "$out" && $force -eq 0 && -n "$(ls -A "$out" 2>/dev/null)" ]]; then
  die "$out is not empty: name a new folder, or pass --force to write into it"
fi

# Where the libraries come from: an unpacked prefix (made now from the .deb files, or given), or
# the system.
root="$repo/.gpu-deps/root"
if [[ -n "$prefix" ]]; then
  root=$prefix deps_mode=prefix
elif [[ $system_deps -eq 1 ]]; then
  root="" deps_mode=system
else
  deps_mode=debs
fi
usr=${root:+$root/usr}

steps=(gpu deps configure build cuda-tests bench-cuda compare-fp32 compare-tf32 train-seed train-strong)
# Shares of the budget, in the order above, and the least time each step gets while the budget
# lasts. Nothing after the build runs without it, so it may take all but the later steps' least.
weights=(4 15 40 180 60 50 40 40 70 50)
floors=(15 30 60 0 30 25 25 25 45 30)
build_step=3

# allot I REMAINING: the seconds step I may take when REMAINING seconds of the budget are left:
# its share of them among the steps still to come, leaving the steps after it their least (the
# build: all but that), at least its own least, at most what is left.
allot() {
  local rest=0 reserve=0 j
  for ((j = $1; j < ${#steps[@]}; j++)); do rest=$((rest + weights[j])); done
  for ((j = $1 + 1; j < ${#steps[@]}; j++)); do reserve=$((reserve + floors[j])); done
  awk -v left="$2" -v w="${weights[$1]}" -v r="$rest" -v floor="${floors[$1]}" \
      -v reserve="$reserve" -v greedy="$(($1 == build_step))" 'BEGIN {
    t = int(left * w / r)
    if (greedy ? left - reserve > t : t > left - reserve) t = int(left - reserve)
    if (t < floor) t = floor; if (t > left) t = int(left)
    print (t > 0 ? t : 0) }'
}

# plan STEP: sets what (a line saying what it does), cmd (the command, if one) and why_not (why
# it is skipped whatever happens before it, if it is).
plan() {
  what="" cmd=() why_not=""
  case "$1" in
    gpu) what="nvidia-smi: the GPU, its driver and memory (gpu.txt)" ;;
    deps)
      case "$deps_mode" in
        prefix) what="use the prefix $root" ;;
        system) what="use the system's libraries (--system-deps)" ;;
        debs)
          what="unpack $debs into $root"
          cmd=("$repo/tools/gpu-machine-deps.sh" unpack --debs "$debs" --root "$root")
          ;;
      esac
      ;;
    configure)
      what="CMake, Release, CUDA on"
      cmd=(cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSAV_CUDA=ON -DSAV_MPI=OFF
           -DSAV_BUILD_TESTS=ON -DSAV_BUILD_BENCH=ON -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON)
      # With a prefix: find everything there, and let the programs find its libraries.
      if [[ -n "$usr" ]]; then
        cmd+=(-DCMAKE_PREFIX_PATH="$usr" -DPKG_CONFIG_EXECUTABLE="$usr/bin/pkg-config"
              -DSAV_OPENBLAS_OPENMP_LIBRARY="$usr/lib/$arch/openblas-openmp/libopenblas.so.0"
              -DCMAKE_BUILD_RPATH="$usr/lib/$arch")
      fi
      [[ -e "$build/CMakeCache.txt" ]] || ! command -v ninja >/dev/null || cmd+=(-G Ninja)
      ;;
    build)
      what="the programs, tests and benchmarks the GPU steps run"
      cmd=(cmake --build "$build" --parallel "$jobs" --target sav_train sav_tests sav_bench_cuda)
      ;;
    cuda-tests)
      what="sav_tests' CUDA tests on the GPU"
      cmd=("$build/tests/sav_tests" '--gtest_filter=Cuda*' "--gtest_output=xml:$out/cuda_tests.xml")
      ;;
    bench-cuda)
      what="GPU benchmarks (bench_cuda.json)"
      cmd=("$build/sav_bench_cuda" "--benchmark_out=$out/bench_cuda.json" --benchmark_out_format=json)
      ;;
    compare-fp32 | compare-tf32)
      what="sav against PyTorch on the GPU, TF32 $([[ "$1" == compare-tf32 ]] && echo on || echo off)"
      cmd=(python3 "$repo/bench/compare_pytorch.py" --device cuda --sav-bench "$build/sav_bench_cuda")
      [[ "$1" == compare-fp32 ]] || cmd+=(--tf32)
      ;;
    train-seed | train-strong)
      local config="$repo/data/config.json" n=$epochs
      if [[ "$1" == train-strong ]]; then config=$strong_config n=$strong_epochs; fi
      if [[ $n -gt 0 ]]; then
        what="$n epochs of $config on the GPU, timed"
      else
        what="$config on the GPU until its time is up, timed"
      fi
      cmd=("$build/sav_train" --config "$config" --data "$data" --device cuda --tf32)
      [[ $n -eq 0 ]] || cmd+=(--epochs "$n")
      cmd+=(--out "$build/gpu-check/$1")
      if [[ $have_data -eq 0 ]]; then
        why_not="no CIFAR-10 in $data (run 'make data', or pass --data DIR)"
      elif [[ ! -f "$config" ]]; then
        why_not="no recipe $config"
      fi
      ;;
  esac
}

if [[ $dry_run -eq 1 ]]; then
  left=$budget
  echo "gpu-check: dry run, nothing is run; budget ${budget} s, figures and logs into $out"
  echo "(each step's seconds if those before it take all of theirs)"
  for i in "${!steps[@]}"; do
    plan "${steps[$i]}"
    seconds=$(allot "$i" "$left")
    left=$((left - seconds))
    printf '%-13s %4d s  %s\n' "${steps[$i]}" "$seconds" "$what"
    if [[ -n "$why_not" ]]; then
      echo "                     skip: $why_not"
    elif [[ ${#cmd[@]} -gt 0 ]]; then
      printf '                     $'; printf ' %q' "${cmd[@]}"; printf '\n'
    fi
  done
  exit 0
fi

mkdir -p "$out" || die "cannot make $out"
now() { if [[ -n "${EPOCHREALTIME:-}" ]]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
started=$(now)
deadline=$(awk -v s="$started" -v b="$budget" 'BEGIN { printf "%.3f", s + b }')
declare -A result seconds note allotted
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]] || commit+=" (with changes)"

write_summary() {
  local s counts
  {
    echo "sav gpu-check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, on $(hostname)"
    echo "budget ${budget} s; libraries: $deps_mode${root:+ ($root)}; build: $build"
    printf '%-13s %-7s %7s %7s  %s\n' step result seconds budget notes
    for s in "${steps[@]}"; do
      [[ -n "${result[$s]:-}" ]] || continue
      printf '%-13s %-7s %7s %7s  %s\n' "$s" "${result[$s]}" "${seconds[$s]}" "${allotted[$s]}" \
        "${note[$s]}"
    done
    counts=$(printf '%s\n' "${result[@]}" | awk '/PASS/ { p++ } /FAIL|TIMEOUT/ { f++ } /SKIP/ { s++ }
      END { printf "%d passed, %d failed, %d skipped", p, f, s }')
    echo "gpu-check: $counts in $(elapsed "$started") s"
  } > "$out/summary.txt"
}

# record STEP RESULT NOTE, with the step's seconds from step_start.
record() {
  result[$1]=$2 note[$1]=$3 seconds[$1]=$(elapsed "$step_start")
  printf '[%s] %s %s (%s s): %s\n' "$(date +%H:%M:%S)" "$1" "$2" "${seconds[$1]}" "$3"
  write_summary
}

# run_logged STEP LOG: runs cmd within the step's time, the command and its output appended to
# LOG; returns its status (124 when it ran out of time).
run_logged() {
  { printf '$'; printf ' %q' "${cmd[@]}"; printf '\n'; } >> "$2"
  if [[ $1 == train-strong && $strong_epochs -eq 0 ]]; then
    # Ctrl-C's signal: sav_train ends the step in progress, saves, and exits with 130.
    timeout -s INT --kill-after=30 "${allotted[$1]}" "${cmd[@]}" >> "$2" 2>&1 < /dev/null
  else
    timeout --kill-after=10 "${allotted[$1]}" "${cmd[@]}" >> "$2" 2>&1 < /dev/null
  fi
}

# The line of LOG that says why its command failed: CMake's error, or the last line.
failure_line() {
  local line
  line=$(grep -m 1 -A 3 '^CMake Error' "$1" | grep -v '^[[:space:]]*$' | head -n 3 | tr -s ' \n' ' ')
  [[ -n "$line" ]] || line=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1)
  echo "${line:0:200}"
}

# finish_run STEP STATUS LOG NOTE: PASS on 0, TIMEOUT on 124 or 137, otherwise FAIL (with
# failure_line).
finish_run() {
  if [[ $2 -eq 0 ]]; then
    record "$1" PASS "$4"
  elif [[ $2 -eq 124 || $2 -eq 137 ]]; then
    record "$1" TIMEOUT "stopped after ${allotted[$1]} s; ${4:+$4; }log: ${3#"$out"/}"
  else
    record "$1" FAIL "exit $2: $(failure_line "$3"); log: ${3#"$out"/}"
  fi
}

# The figures of a sav_train run: epochs done, the time of an epoch after the first and the
# projected time of the recipe's epochs. $1: train_log.csv, $2: the recipe's epochs.
train_figures() {
  awk -F, -v total="$2" 'NR > 1 && $1 ~ /^[0-9]+$/ { n++; e[n] = $NF; ips = $(NF - 1); acc = $7 }
    END {
      if (n == 0) { print "no epoch finished"; exit }
      per = (n > 1 ? (e[n] - e[1]) / (n - 1) : e[1])
      printf "%d epoch%s, %.1f s/epoch%s, %.0f img/s, test accuracy %.3f; %d epochs projected %.0f s",
             n, (n > 1 ? "s" : ""), per, (n > 1 ? " after the first" : ""), ips, acc, total,
             e[1] + (total - 1) * per
    }' "$1"
}

recipe_epochs() {
  local e
  e=$(grep -o '"epochs"[[:space:]]*:[[:space:]]*[0-9]*' "$1" 2>/dev/null | grep -o '[0-9]*$' | head -n 1)
  echo "${e:-100}"
}

run_step() {
  local s=$1 log="$out/$1.log" status
  plan "$s"
  : > "$log"
  case "$s" in
    gpu)
      { timeout 20 nvidia-smi; echo; nvcc --version; echo; cmake --version | head -n 1
        g++ --version | head -n 1; } > "$out/gpu.txt" 2>&1
      if ! command -v nvidia-smi >/dev/null; then
        record gpu FAIL "nvidia-smi not found: no NVIDIA driver here"
        return
      fi
      local gpus
      gpus=$(timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)
      if [[ $? -ne 0 || -z "$gpus" || "$gpus" == *"No devices"* || "$gpus" == *"failed"* ]]; then
        record gpu FAIL "nvidia-smi finds no GPU: $(echo "${gpus:-nothing}" | head -n 1)"
      else
        local name memory driver count
        IFS=, read -r name memory driver <<< "$(echo "$gpus" | head -n 1)"
        count=$(echo "$gpus" | wc -l)
        record gpu PASS "$name,$memory, driver${driver}$( ((count == 1)) || echo "; $count GPUs")"
      fi
      ;;
    deps)
      if [[ "$deps_mode" == debs ]]; then
        if compgen -G "$debs/*.deb" >/dev/null; then
          run_logged deps "$log"
          status=$?
          finish_run deps $status "$log" "$( ((status)) || tail -n 1 "$log" | sed 's/^gpu-machine-deps: //')"
        elif [[ -e "$root/.sav-gpu-deps" ]]; then
          deps_mode=prefix
          record deps PASS "no .deb files in $debs; using the prefix unpacked before, $root"
        else
          record deps FAIL "no .deb files in $debs (run 'tools/gpu-machine-deps.sh download' where apt works and carry .gpu-deps/debs), nor a prefix in $root: using the system's libraries"
          deps_mode=system root="" usr=""
        fi
      elif [[ "$deps_mode" == prefix ]]; then
        record deps PASS "using the prefix $root"
      else
        record deps SKIP "--system-deps: the system's libraries"
      fi
      if [[ -n "$usr" && "${result[deps]}" == PASS ]]; then
        local lines
        if lines=$("$repo/tools/gpu-machine-deps.sh" env --root "$root" 2>> "$log"); then
          eval "$lines"
          unset PKG_CONFIG_PATH  # the prefix alone
        else
          deps_mode=system root="" usr=""
        fi
      elif [[ "${result[deps]}" != PASS ]]; then
        deps_mode=system root="" usr=""
      fi
      ;;
    configure)
      if ! command -v cmake >/dev/null; then
        record configure FAIL "cmake not found"
        return
      fi
      # A build folder configured otherwise would keep what CMake found there before.
      local stamp="$build/gpu-check-deps.txt" before
      before=$(cat "$stamp" 2>/dev/null || echo "not by gpu-check")
      if [[ -e "$build/CMakeCache.txt" && "$before" != "${usr:-system}" ]]; then
        record configure FAIL "$build was configured for other libraries ($before): pass --build-dir DIR, or remove it"
        return
      fi
      mkdir -p "$build" && echo "${usr:-system}" > "$stamp"
      run_logged configure "$log"
      status=$?
      finish_run configure $status "$log" "$(grep -E 'sav: (CUDA backend|NCCL)' "$log" | sed 's/^-- sav: //' | paste -sd ';' | sed 's/;/; /g')"
      ;;
    build)
      run_logged build "$log"
      finish_run build $? "$log" "$(find "$build" -maxdepth 1 -name 'libsav_*.so' -printf '%f\n' | sort | paste -sd ' ')"
      ;;
    cuda-tests)
      run_logged cuda-tests "$log"
      status=$?
      local counts missing
      counts=$(grep -E '^\[  (PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?' "$log" |
               sed -E 's/^\[ +([A-Z]+) +\] ([0-9]+) tests?.*/\2 \L\1/' | paste -sd ',' | sed 's/,/, /g')
      missing=$(grep -c 'no usable CUDA device' "$log")
      if [[ $status -eq 0 && $missing -gt 0 ]]; then
        record cuda-tests FAIL "${counts}: $missing skipped for want of a usable CUDA device"
      elif grep -q '^\[  FAILED  \] [A-Za-z0-9_/]*\.' "$log"; then
        record cuda-tests FAIL "${counts}: $(grep -oE '^\[  FAILED  \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/]+' "$log" |
          cut -c14- | sort -u | head -n 8 | paste -sd ' '); log: cuda-tests.log"
      else
        finish_run cuda-tests $status "$log" "$counts"
      fi
      ;;
    bench-cuda)
      run_logged bench-cuda "$log"
      status=$?
      local error
      error=$(grep -o '"error_message": "[^"]*"' "$out/bench_cuda.json" 2>/dev/null | head -n 1 | cut -d'"' -f4)
      if [[ $status -eq 0 && -n "$error" ]]; then
        record bench-cuda FAIL "$error"
      else
        finish_run bench-cuda $status "$log" "$(awk '$1 ~ /^BM_Cuda(TrainStep|Inference)\/tf32:[01]/ {
          n = split($1, p, "/"); name = substr(p[1], 8)
          for (i = 2; i <= n && p[i] != "manual_time"; ++i) name = name " " p[i]
          printf "%s%s %s %s", sep, name, $2, $3; sep = "; " }' "$log")"
      fi
      ;;
    compare-fp32 | compare-tf32)
      if ! command -v python3 >/dev/null; then
        record "$s" FAIL "python3 not found"
        return
      fi
      run_logged "$s" "$log"
      finish_run "$s" $? "$log" "$(awk '/^(train step|inference)/ {
        label = $1 == "train" ? "train step" : "inference"; i = $1 == "train" ? 3 : 2
        printf "%s%s sav %s i/s, PyTorch %s i/s (sav/PyTorch %s)", sep, label, $i, $(i + 2), $(i + 4); sep = "; " }' "$log")"
      ;;
    train-seed | train-strong)
      rm -rf "$build/gpu-check/$s"  # no figures from an earlier run
      run_logged "$s" "$log"
      status=$?
      local stopped=""
      if [[ $s == train-strong && $strong_epochs -eq 0 && $status -eq 130 ]]; then
        status=0 stopped="; stopped when its time was up"
      fi
      local csv="$build/gpu-check/$s/outputs/train_log.csv" figures="no epoch finished"
      if [[ -f "$csv" ]]; then
        cp "$csv" "$out/${s}_log.csv"
        cp "$build/gpu-check/$s/outputs/curves.png" "$out/${s}_curves.png" 2>/dev/null
        figures=$(train_figures "$csv" "$(recipe_epochs "${cmd[2]}")")
      fi
      local images
      images=$(sed -n 's/^data: \([0-9]*\) training, \([0-9]*\) validation, \([0-9]*\) test images.*/\1 training, \2 validation, \3 test images/p' "$log")
      [[ -z "$images" ]] || figures+=" ($images)"
      finish_run "$s" $status "$log" "$figures$stopped"
      ;;
  esac
}

# Which earlier step a step needs, and whether it passed.
blocked_by() {
  case "$1" in
    build) [[ "${result[configure]}" == PASS ]] || echo configure ;;
    gpu | deps | configure) ;;
    *) [[ "${result[build]}" == PASS ]] || echo build ;;
  esac
}

step_start=$started
trap 'record "${current:-?}" FAIL "interrupted"; exit 130' INT TERM
unset SAV_CUDA_MODULE_PATH  # the real module, never the emulator's
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
echo "gpu-check: budget ${budget} s; figures and logs into $out"
cd "$repo" || exit 1
for i in "${!steps[@]}"; do
  current=${steps[$i]}
  step_start=$(now)
  allotted[$current]=$(allot "$i" "$(awk -v d="$deadline" -v n="$step_start" 'BEGIN { print d - n }')")
  plan "$current"
  needs=$(blocked_by "$current")
  if [[ -n "$why_not" ]]; then
    record "$current" SKIP "$why_not"
  elif [[ -n "$needs" ]]; then
    record "$current" SKIP "needs $needs, which did not pass"
  elif [[ "${allotted[$current]}" -lt 1 ]]; then
    record "$current" SKIP "no time left in the budget"
  else
    run_step "$current"
    [[ -s "$out/$current.log" ]] || rm -f "$out/$current.log"
  fi
done
trap - INT TERM
echo "gpu-check: $(tail -n 1 "$out/summary.txt" | sed 's/^gpu-check: //'); summary: $out/summary.txt"
grep -qE '^[a-z0-9-]+ +(FAIL|TIMEOUT) ' "$out/summary.txt" && exit 1
exit 0
