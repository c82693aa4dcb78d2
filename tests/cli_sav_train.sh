#!/usr/bin/env bash
# sav_train as a user meets it: --help, bad flags and files (exit 2), runtime failures (exit 1),
# and, when the real data is present, a one-epoch run of a tiny model and its resumption.
# Usage: cli_sav_train.sh PATH/TO/sav_train SOURCE_DIR
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
train=$1
source_dir=$2
cd "$source_dir" || exit 1  # where a user runs it: the defaults are relative to it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$tests_dir/cli_lib.sh"
program=$train

expect 0 "--limit-train" --help
expect 2 "not expected: --bogus" --bogus
expect 2 "--epochs: must be positive, got 0" --epochs 0
expect 2 "--lr: 'abc' is not a number" --lr abc
expect 2 "--batch-size: must be positive, got -5" --batch-size -5
expect 2 "cannot open configuration $work/none.json" --config "$work/none.json"
echo '{"model": {"d_model": 256, "layers": 6}}' > "$work/unknown.json"
expect 2 "unknown key model.layers" --config "$work/unknown.json"
echo '{"model": {"d_model": 256' > "$work/broken.json"
expect 2 "$work/broken.json: not valid JSON" --config "$work/broken.json"
expect 2 "unknown device 'gpu'" --device gpu
expect 1 "cannot open $work/nowhere" --data "$work/nowhere" --device cpu
expect 2 "nothing to resume" --resume --out "$work/empty" --data "$source_dir/data/cifar-10-batches-bin" --device cpu

data="$source_dir/data/cifar-10-batches-bin"
if [[ -f "$data/test_batch.bin" ]]; then
  cat > "$work/tiny.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 1, "dropout": 0.1},
 "training": {"batch_size": 50, "lr": 0.001, "epochs": 1}}
JSON
  expect 2 "--val-split 60000 leaves no training images" --config "$work/tiny.json" --val-split 60000 --data "$data"
  expect 0 "best validation checkpoint (epoch 1" --config "$work/tiny.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --threads 1
  for f in checkpoints/last.safetensors checkpoints/best.safetensors outputs/train_log.csv outputs/curves.png; do
    [[ -s "$work/run/$f" ]] || fail_check "$f was not written"
  done
  expect 0 "resuming after epoch 1" --config "$work/tiny.json" --limit-train 200 --val-split 100 \
    --data "$data" --out "$work/run" --epochs 2 --resume --threads 1
  # A resumed run whose log has gone says so.
  rm "$work/run/outputs/train_log.csv"
  expect 0 "holds 0 of the 2 epochs done" --config "$work/tiny.json" --limit-train 200 \
    --val-split 100 --data "$data" --out "$work/run" --epochs 3 --resume --threads 1
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
else
  echo "skipped the training runs: $data is absent (run 'make data')"
fi

finish
