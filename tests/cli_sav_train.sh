#!/usr/bin/env bash
# sav_train as a user meets it: --help, bad flags and files (exit 2), runtime failures (exit 1),
# a busy or already used output folder; and, when the real data is present, a one-epoch run of a
# tiny model and its resumption, and runs stopped by SIGINT and SIGTERM and then resumed.
# Without the data every check that needs none still runs, and the rest is skipped, saying so.
# Usage: cli_sav_train.sh PATH/TO/sav_train SOURCE_DIR
# SAV_TEST_DATA names another data folder (an absent one shows what a fresh clone runs).
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
train=$1
source_dir=$2
cd "$source_dir" || exit 1  # where a user runs it: the defaults are relative to it
work=$(mktemp -d)
holder=""
trap '[[ -n "$holder" ]] && kill "$holder" 2>/dev/null; rm -rf "$work"' EXIT
source "$tests_dir/cli_lib.sh"
program=$train
data=${SAV_TEST_DATA:-$source_dir/data/cifar-10-batches-bin}

expect 0 "--limit-train" --help
expect 2 "not expected: --bogus" --bogus
expect 2 "--epochs: must be positive, got 0" --epochs 0
expect 2 "--lr: 'abc' is not a number" --lr abc
expect 2 "--lr: must be a finite number, got inf" --lr inf
expect 2 "--lr: must be a finite number, got nan" --lr nan
expect 2 "--seed: must be a whole number from 0 to 18446744073709551615, got -1" --seed -1
expect 2 "--batch-size: must be positive, got -5" --batch-size -5
expect 2 "--resume excludes --force" --force --resume
expect 2 "cannot open configuration $work/none.json" --config "$work/none.json"
echo '{"model": {"d_model": 256, "layers": 6}}' > "$work/unknown.json"
expect 2 "unknown key model.layers" --config "$work/unknown.json"
echo '{"model": {"d_model": 256' > "$work/broken.json"
expect 2 "$work/broken.json: not valid JSON" --config "$work/broken.json"
echo '{"training": {"eps": 1e-300}}' > "$work/eps.json"
expect 2 "training.eps 1e-300 is out of single precision's range" --config "$work/eps.json" \
  --data "$work/nowhere" --out "$work/eps"
expect 2 "unknown device 'gpu'" --device gpu
expect 1 "cannot open $work/nowhere" --data "$work/nowhere" --device cpu --out "$work/nodata"
# The recipes in data/recipes/ are valid configurations (a bad key or value would exit 2).
for recipe in data/recipes/*.json; do
  expect 1 "cannot open $work/nowhere" --config "$recipe" --data "$work/nowhere" --device cpu \
    --out "$work/recipe"
done

# What needs no data is checked before the data is read, so these hold on a fresh clone too.
expect 2 "nothing to resume" --resume --out "$work/empty" --data "$data" --device cpu
[[ -e "$work/empty" ]] && fail_check "--resume with nothing to resume created $work/empty"
mkdir -p "$work/old/checkpoints"
echo "an earlier run's checkpoint" > "$work/old/checkpoints/last.safetensors"
expect 2 "add --resume to go on with it, or --force to start over" --out "$work/old" \
  --data "$work/nowhere" --device cpu
grep -q "an earlier run's checkpoint" "$work/old/checkpoints/last.safetensors" ||
  fail_check "a refused run touched $work/old"
# A folder locked by another process (here flock(1), writing its pid as sav_train does).
mkdir -p "$work/busy"
(exec 9> "$work/busy/train.lock" && flock 9 && echo "$BASHPID" >&9 && exec sleep 60) &
holder=$!
for _ in $(seq 100); do [[ -s "$work/busy/train.lock" ]] && break; sleep 0.05; done
expect 1 "$work/busy is in use by another training run (process $holder, which holds" \
  --out "$work/busy" --data "$work/nowhere" --device cpu
kill "$holder"
wait "$holder" 2>/dev/null
holder=""

# waits_for FILE TEXT: waits (up to a minute) until TEXT appears in FILE.
waits_for() {
  for _ in $(seq 1200); do
    grep -q -- "$2" "$1" 2> /dev/null && return 0
    sleep 0.05
  done
  fail_check "'$2' never appeared in $1"
  return 1
}

# interrupts SIGNAL STATUS NAME: starts a long run in $work/NAME, sends SIGNAL once it trains,
# and checks the exit status, the message, and that the run resumes to the bits of a run never
# stopped. Sets `stopped_epochs` to the epochs the finished run has.
interrupts() {
  local signal=$1 status=$2 name=$3 out="$work/$3" log="$work/$3.log" pid got epochs
  "$train" "${tiny[@]}" --epochs 40 --out "$out" > "$log" 2>&1 &
  pid=$!
  waits_for "$log" "step"
  if [[ $name == sigint ]]; then  # while it runs, a second run on its folder is refused
    expect 1 "is in use by another training run (process $pid," "${tiny[@]}" --epochs 40 \
      --out "$out"
  fi
  kill "-$signal" "$pid"
  wait "$pid"
  got=$?
  if [[ $got -ne $status ]] ||
     ! grep -q "^stopped .*last.safetensors holds it. To go on, run:" "$log" ||
     ! grep -q -- "--epochs 40 --out $out --resume$" "$log"; then
    fail_check "sav_train stopped by SIG$signal: exit $got (expected $status); output:"
    tail -5 "$log"
    return
  fi
  echo "ok: sav_train stopped by SIG$signal -> exit $got, $(grep '^stopped' "$log")"
  # Finish the epoch it stopped in (or the next, when it stopped between epochs).
  epochs=$(sed -n -e 's/^stopped within epoch \([0-9]*\).*/\1/p' \
    -e 's/^stopped after epoch \([0-9]*\).*/\1+1/p' "$log")
  epochs=$((epochs))
  expect 0 "resuming" "${tiny[@]}" --epochs "$epochs" --out "$out" --resume
  stopped_epochs=$epochs
}

if [[ -f "$data/test_batch.bin" ]]; then
  cat > "$work/tiny.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 1, "dropout": 0.1},
 "training": {"batch_size": 50, "lr": 0.001, "epochs": 1}}
JSON
  expect 2 "--val-split 50000 leaves no training images" --config "$work/tiny.json" \
    --val-split 50000 --data "$data" --out "$work/split"
  expect 0 "best validation checkpoint (epoch 1" --config "$work/tiny.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --threads 1
  for f in checkpoints/last.safetensors checkpoints/best.safetensors outputs/train_log.csv outputs/curves.png; do
    [[ -s "$work/run/$f" ]] || fail_check "$f was not written"
  done
  # A forgotten --resume is refused; --force starts over.
  expect 2 "$work/run holds a run already" --config "$work/tiny.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --threads 1
  expect 0 "resuming after epoch 1" --config "$work/tiny.json" --limit-train 200 --val-split 100 \
    --data "$data" --out "$work/run" --epochs 2 --resume --threads 1
  # A resumed run whose log has gone says so.
  rm "$work/run/outputs/train_log.csv"
  expect 0 "holds 0 of the 2 epochs done" --config "$work/tiny.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --epochs 3 --resume --threads 1
  expect 0 "best validation checkpoint (epoch 1" --config "$work/tiny.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --threads 1 --force
  # The strong recipe on a tiny model: every feature of it in one run, said in the plan, and
  # the moving average kept beside the weights.
  sed -e 's/"d_model": 256/"d_model": 16/' -e 's/"h": 8/"h": 2/' -e 's/"N": 6/"N": 1/' \
    data/recipes/cifar10-strong.json > "$work/strong.json"
  expect 0 "recipe: cosine lr to 1e-05 after 10 warm-up epochs; weight decay 0.05 (matrices only); TrivialAugment; Mixup 0.8; CutMix 1; label smoothing 0.1; drop path 0.1; gradients clipped to norm 1; evaluated on a moving average of the weights (decay 0.9995)" \
    --config "$work/strong.json" --epochs 10 --batch-size 50 --limit-train 200 --val-split 100 \
    --data "$data" --out "$work/strong" --threads 1 --device cpu
  grep -q "ema.head.weight" "$work/strong/checkpoints/best.safetensors" ||
    fail_check "the strong recipe's best.safetensors holds no moving average (ema.head.weight)"
  # The OpenBLAS kernels sav asks for are the ones it uses, and it says which.
  export SAV_OPENBLAS_CORETYPE=Haswell
  expect 0 "(Haswell kernels)" --config "$work/tiny.json" --limit-train 100 --val-split 50 \
    --data "$data" --out "$work/haswell" --device cpu
  unset SAV_OPENBLAS_CORETYPE
  expect 0 "note: --tf32 changes GPU products only" --config "$work/tiny.json" --limit-train 100 \
    --val-split 50 --data "$data" --out "$work/tf32" --device cpu --tf32
  echo '{"model": {"d_model": 32, "h": 2, "N": 1}, "training": {"batch_size": 50, "lr": 0.001, "epochs": 3}}' > "$work/wider.json"
  expect 2 "its configuration differs in model.d_ff" --config "$work/wider.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --resume

  # Ctrl-C or SIGTERM: the step in progress ends, the run is saved within its epoch, and
  # --resume finishes it to the same bits as a run never stopped.
  tiny=(--config "$work/tiny.json" --limit-train 2000 --val-split 100 --data "$data" --threads 1
        --device cpu)
  stopped_epochs=""
  interrupts INT 130 sigint
  if [[ -n "$stopped_epochs" ]]; then
    expect 0 "final (epoch $stopped_epochs)" "${tiny[@]}" --epochs "$stopped_epochs" \
      --out "$work/straight"
    for f in last best; do
      cmp -s "$work/sigint/checkpoints/$f.safetensors" \
        "$work/straight/checkpoints/$f.safetensors" ||
        fail_check "$f.safetensors of the stopped and resumed run differs from the straight run's"
    done
  fi
  interrupts TERM 143 sigterm
  # A second signal quits at once; what was saved before stays usable.
  log="$work/twice.log"
  "$train" "${tiny[@]}" --epochs 40 --out "$work/twice" > "$log" 2>&1 &
  pid=$!
  waits_for "$log" "epoch 1/40  train loss" && waits_for "$log" "epoch 2/40 step"
  kill -INT "$pid"
  kill -TERM "$pid"
  wait "$pid"
  got=$?
  # Either signal may be taken first (any of the process's threads takes one): the status is
  # the second's.
  if [[ $got -ne 143 && $got -ne 130 ]] || ! grep -q "stopped at once" "$log"; then
    fail_check "sav_train sent SIGINT then SIGTERM: exit $got (expected 143 or 130); output:"
    tail -5 "$log"
  else
    echo "ok: sav_train sent SIGINT then SIGTERM -> exit $got"
  fi
  expect 0 "resuming" "${tiny[@]}" --epochs 2 --out "$work/twice" --resume
else
  echo "skipped the training runs: $data is absent (run 'make data')"
fi

finish
