#!/usr/bin/env bash
# sav_train under mpirun, as a user launches it on one machine: two ranks train and only rank 0
# reports; a rank that fails (bad input, here a data folder only it cannot open) ends the whole
# job with its message and a non-zero exit instead of leaving the other waiting; a bad flag stops
# every rank. Needs the real data for the runs; without it those are skipped, saying so.
# Usage: cli_sav_train_mpi.sh PATH/TO/mpirun PATH/TO/sav_train SOURCE_DIR
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
mpirun=$1
train=$2
source_dir=$3
cd "$source_dir" || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$tests_dir/cli_lib.sh"
data=${SAV_TEST_DATA:-$source_dir/data/cifar-10-batches-bin}
# timeout: a job that hangs fails the check instead of the suite.
program=timeout
launch=(120 "$mpirun" --oversubscribe --allow-run-as-root)

expect 2 "--epochs: must be positive, got 0" "${launch[@]}" -np 2 "$train" --epochs 0

if [[ ! -f "$data/test_batch.bin" ]]; then
  echo "skipped: the runs under mpirun (no CIFAR-10 data in $data)"
  finish
  exit 0
fi
cat > "$work/tiny.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 1, "dropout": 0.1},
 "training": {"batch_size": 51, "lr": 0.001, "epochs": 1}}
JSON
run=(--config "$work/tiny.json" --limit-train 400 --val-split 100 --threads 1 --device cpu)

expect 0 "data-parallel: MPI: 2 ranks" "${launch[@]}" -np 2 "$train" "${run[@]}" --data "$data" \
  --out "$work/two"
output=$(timeout 120 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$train" "${run[@]}" \
  --data "$data" --out "$work/two" --epochs 2 --resume 2>&1)
[[ $(grep -c "^final (epoch 2)" <<< "$output") -eq 1 ]] ||
  fail_check "two ranks resumed: expected one report of the final epoch, from rank 0; got: $output"
[[ -f "$work/two/checkpoints/last.safetensors" && -f "$work/two/outputs/train_log.csv" ]] ||
  fail_check "two ranks wrote no checkpoint or log in $work/two"

# Rank 1 alone is given a data folder that does not exist (mpirun's MPMD form, ranks separated by
# a colon): it fails, and rank 0, already waiting for it in the first step, is ended with it.
# The message is written in one piece, so that rank 0's output cannot land inside it. (On a
# machine loaded far beyond its cores this check has failed about once in a few runs, the rank's
# message missing from mpirun's output; all of the output is shown when it fails.)
cli_output_lines=60
expect 1 "sav_train (rank 1 of 2): cannot open $work/nowhere" "${launch[@]}" \
  -np 1 "$train" "${run[@]}" --data "$data" --out "$work/failed" : \
  -np 1 "$train" "${run[@]}" --data "$work/nowhere" --out "$work/failed"
cli_output_lines=5
[[ -e "$work/failed/checkpoints/last.safetensors" ]] &&
  fail_check "the failed job wrote a checkpoint"
program=$train
finish
