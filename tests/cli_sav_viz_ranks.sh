#!/usr/bin/env bash
# sav_viz under mpirun: the ranks share the images and rank 0 alone prints and writes, the same
# report and figures as one process, byte for byte (faithfulness.md, .csv and .png; the figures
# and maps), on a tiny checkpoint trained here on synthetic records and on a published ViT
# fixture. A rank that fails ends the job with its message instead of leaving the others waiting.
# Usage: cli_sav_viz_ranks.sh PATH/TO/sav_viz PATH/TO/sav_train SOURCE_DIR PATH/TO/mpiexec
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
viz=$1
train=$2
source_dir=$3
mpiexec=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$tests_dir/cli_lib.sh"

# `program` for cli_lib's expect: sav_viz as a job of RANKS processes (--oversubscribe: more ranks
# than cores is fine for a test; --allow-run-as-root: CI runs as root), given 5 minutes at most.
job() {
  local ranks=$1
  cat > "$work/sav_viz_np$ranks" <<EOF
#!/usr/bin/env bash
exec timeout 300 "$mpiexec" --oversubscribe --allow-run-as-root -np $ranks "$viz" "\$@"
EOF
  chmod +x "$work/sav_viz_np$ranks"
  program="$work/sav_viz_np$ranks"
}

# run_into OUT ARGS...: "$program" ARGS --out OUT (OUT_DIR in ARGS replaced by OUT), which must
# succeed and say what it wrote; what it printed goes to OUT.txt.
run_into() {
  local out=$1
  shift
  local args=("${@//OUT_DIR/$out}")
  mkdir -p "$(dirname "$out")"
  "$program" "${args[@]}" --out "$out" > "$out.txt" 2>&1 < /dev/null
  local status=$?
  if [[ $status -ne 0 ]] || ! grep -q '^wrote ' "$out.txt"; then
    fail_check "$(basename "$program") ${args[*]}: exit $status; output:"
    tail -5 "$out.txt"
    return 1
  fi
}

# What a run printed, less the lines that tell the time (progress, "measured in"), with its
# output folder named OUT.
printed() { grep -v -e ' img/s ' -e '^measured in ' "$1.txt" | sed "s|$1|OUT|g"; }

# same_as_one_process NAME RANKS ARGS...: sav_viz ARGS as one process and as a job of RANKS
# processes; every file written and every line printed must be the same.
same_as_one_process() {
  local name=$1 ranks=$2
  shift 2
  local one="$work/$name/one" shared="$work/$name/ranks"
  program=$viz
  run_into "$one" "$@" || return
  job "$ranks"
  run_into "$shared" "$@" || return
  if ! diff -r "$one" "$shared" > "$work/$name/diff.txt"; then
    fail_check "$name: $ranks ranks wrote other files than one process:"
    head -5 "$work/$name/diff.txt"
  elif ! diff <(printed "$one") <(printed "$shared"); then
    fail_check "$name: $ranks ranks printed other lines than one process (above)"
  else
    echo "ok: $name: $ranks ranks wrote the $(find "$one" -type f | wc -l) files of one process, byte for byte, and printed its lines"
  fi
}

# 120 records of distinct images (label i % 10, pixels from the bytes of the published
# fixtures' weights), the test set and the training set alike.
data="$work/data"
mkdir -p "$data"
cat "$tests_dir"/fixtures/published_vit/*/*.safetensors > "$work/pool.bin"
pool_size=$(wc -c < "$work/pool.bin")
# records [BAD]: the 120 records, record BAD (if given) with label byte 200.
records() {
  local i
  for i in $(seq 0 119); do
    printf "\\$(printf %03o $((i == ${1:--1} ? 200 : i % 10)))"
    tail -c +$((i * 1536 % (pool_size - 3072) + 1)) "$work/pool.bin" | head -c 3072
  done
}
records > "$data/test_batch.bin"
for i in 1 2 3 4 5; do cp "$data/test_batch.bin" "$data/data_batch_$i.bin"; done
cat > "$work/tiny.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 2, "dropout": 0.0},
 "training": {"batch_size": 60, "lr": 0.001, "epochs": 1}}
JSON
if ! "$train" --config "$work/tiny.json" --limit-train 60 --val-split 60 --data "$data" \
  --out "$work/run" --threads 1 > "$work/train.log" 2>&1; then
  cat "$work/train.log"
  fail_check "training the tiny model on synthetic records"
  finish
fi
own=(--checkpoint "$work/run/checkpoints/best.safetensors" --data "$data" --threads 1)
published=(--model "$tests_dir/fixtures/published_vit/timm_vit_f32"
  --images-dir "$tests_dir/fixtures/photos" --threads 1)

# Faithfulness: 120 images in explanation batches of 50, shared 60 / 60 and 40 / 40 / 40, so that
# a batch straddles two ranks; then 15 photos on a 4 x 4 grid. Then again on the OpenBLAS kernels
# of an AVX2 CPU, whose products do treat an image by where it sits in its batch (by a few float
# ulps, which the report's rounding mostly hides: test_faithfulness_shares.cpp compares each
# image's numbers exactly).
faithfulness=(--faithfulness --count 120 --compare seed,grad-rollout --draws 1 --steps 16)
same_as_one_process faithfulness_np2 2 "${own[@]}" "${faithfulness[@]}"
same_as_one_process faithfulness_np3 3 "${own[@]}" "${faithfulness[@]}"
same_as_one_process faithfulness_photos 2 "${published[@]}" --faithfulness --draws 2 \
  --compare rollout,gradcam
if grep -qw avx2 /proc/cpuinfo; then
  SAV_OPENBLAS_CORETYPE=Haswell same_as_one_process faithfulness_haswell 2 "${own[@]}" \
    "${faithfulness[@]}"
fi
for f in faithfulness.md faithfulness.csv; do
  cmp "$work/faithfulness_np2/one/$f" "$work/faithfulness_np2/ranks/$f" ||
    fail_check "cmp $f: 2 ranks differ from one process"
done

# The figures: 120 images in 3 batches of 50, one a rank; and the photos, one batch of 15.
same_as_one_process figures_np3 3 "${own[@]}" --count 120 --compare seed,grad-rollout,random \
  --save-maps OUT_DIR/maps.npy --scale 1
same_as_one_process figures_photos 2 "${published[@]}" --compare seed,gradcam --per-image \
  --top-k 3 --save-maps OUT_DIR/maps.npy

# Bad input ends the job with the message: a value every rank refuses; a flag CLI11 refuses, said
# by rank 0 alone; and record 110 with a label byte that is no class, which only rank 1 of 2 reads
# (batch [100, 120)) while rank 0 waits for it in the gather.
job 2
expect 2 "7 steps do not split the 64 patches" "${own[@]}" --faithfulness --count 5 --steps 7 \
  --out "$work/bad"
output=$("$program" --bogus 2>&1)
[[ $(grep -c "not expected: --bogus" <<< "$output") == 1 ]] ||
  fail_check "--bogus under 2 ranks was not reported exactly once: $output"
records 110 > "$work/bad_label.bin"
mkdir -p "$work/bad_data"
cp "$data"/data_batch_*.bin "$work/bad_data/"
mv "$work/bad_label.bin" "$work/bad_data/test_batch.bin"
expect 1 "record 110: label byte 200 is not a class" --checkpoint "$work/run/checkpoints/best.safetensors" \
  --data "$work/bad_data" --threads 1 --faithfulness --count 120 --draws 1 --compare seed \
  --steps 4 --out "$work/bad"
[[ -e "$work/bad" ]] && fail_check "a failed job left $work/bad"

finish
