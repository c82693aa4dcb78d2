#!/usr/bin/env bash
# sav_viz as a user meets it: --help, bad input (exit 2 or 1, nothing written), the user's own
# images on a tiny checkpoint trained here on synthetic records, and, on one trained on the real
# data (when present), the figures it writes.
# Usage: cli_sav_viz.sh PATH/TO/sav_viz PATH/TO/sav_train SOURCE_DIR
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
viz=$1
train=$2
source_dir=$3
cd "$source_dir" || exit 1  # where a user runs it: the defaults are relative to it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$tests_dir/cli_lib.sh"
program=$viz
data="$source_dir/data/cifar-10-batches-bin"

expect 0 "--compare" --help
expect 1 "train a model with ./sav_train" --checkpoint "$work/none.safetensors" --out "$work/out"
expect 2 "unknown attribution method 'saliency'" --method saliency --checkpoint "$work/none.safetensors"
expect 2 "unknown colormap" --colormap rainbow --checkpoint "$work/none.safetensors"
expect 2 "--alpha" --alpha 2
expect 2 "--images excludes --count" --images 1,2 --count 3
echo "not a png" > "$work/fake.png"

# A checkpoint trained on a few synthetic records, so that the runs below need no data set: the
# user's own images, however they are named and sized.
synthetic="$work/synthetic"
mkdir -p "$synthetic"
{ printf '\003'; head -c 3072 /dev/zero | tr '\0' '\200'; } > "$work/record.bin"
for i in $(seq 40); do cat "$work/record.bin"; done > "$synthetic/test_batch.bin"
for i in 1 2 3 4 5; do cp "$synthetic/test_batch.bin" "$synthetic/data_batch_$i.bin"; done
cat > "$work/tiny_synthetic.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 1, "dropout": 0.0},
 "training": {"batch_size": 50, "lr": 0.001, "epochs": 1}}
JSON
if "$train" --config "$work/tiny_synthetic.json" --limit-train 50 --val-split 50 \
     --data "$synthetic" --out "$work/synthetic_run" --threads 1 > "$work/synthetic.log" 2>&1; then
  own=(--checkpoint "$work/synthetic_run/checkpoints/best.safetensors" --threads 1)
  expect 0 "attention_seed.png" "${own[@]}" --data "$synthetic" --images 0,1 --out "$work/pictures"
  # Two inputs of the same file name from different folders each get their own maps.
  mkdir -p "$work/a" "$work/b"
  cp "$work/pictures/attention_seed.png" "$work/a/x.png"
  cp "$tests_dir/../fuzz/corpus/png/rgb_6x4.png" "$work/b/x.png"
  expect 0 "attention_seed.png" "${own[@]}" --image "$work/a/x.png" --image "$work/b/x.png" \
    --per-image --out "$work/same_name"
  for f in x_seed.png x-2_seed.png; do
    [[ -s "$work/same_name/per_image/$f" ]] || fail_check "per_image/$f was not written"
  done
  cmp -s "$work/same_name/per_image/x_seed.png" "$work/same_name/per_image/x-2_seed.png" &&
    fail_check "the two x.png inputs got the same per-image map"
  # An image too large is refused from its header, before it is decoded (4.8 GB if it were).
  expect 1 "40000 x 40000 pixels has a side over the limit of 16384" "${own[@]}" \
    --image "$tests_dir/../fuzz/corpus/png/declares_40000x40000.png" --out "$work/too_big"
  [[ -e "$work/too_big" ]] && fail_check "a refused image left $work/too_big"
else
  fail_check "training the tiny model on synthetic records"
  cat "$work/synthetic.log"
fi

# Published ViTs: each of the four namings explains photos (JPEG and PNG, any size) through its
# own transform, on its own grid.
published="$tests_dir/fixtures/published_vit"
photos="$tests_dir/fixtures/photos"
for layout in timm_vit_f32 timm_deit_distilled_f16 hf_vit_bf16 hf_deit_teacher_sharded timm_vit_rect_f32; do
  expect 0 "attention_compare.png" --model "$published/$layout" --image "$photos/photo_a.jpg" \
    --image "$photos/photo_b.png" --compare seed,rollout,grad-rollout --top-k 3 \
    --save-maps "$work/$layout/maps.npy" --threads 1 --out "$work/$layout"
  for f in attention_seed.png attention_grad-rollout.png attention_compare.png maps_rollout.npy; do
    [[ -s "$work/$layout/$f" ]] || fail_check "$layout: $f was not written"
  done
done
# The maps are [images, grid rows, grid columns]: 4 x 4 patches at 32 / 8, 3 x 5 on the
# rectangular model.
grep -qa "'shape': (2, 4, 4)" "$work/timm_vit_f32/maps_seed.npy" || fail_check "timm_vit_f32 maps are not [2, 4, 4]"
grep -qa "'shape': (2, 3, 5)" "$work/timm_vit_rect_f32/maps_seed.npy" || fail_check "timm_vit_rect_f32 maps are not [2, 3, 5]"
timm=(--model "$published/timm_vit_f32" --threads 1)
expect 0 "attention_gradcam.png" "${timm[@]}" --images-dir "$photos" --method gradcam \
  --class 3 --per-image --out "$work/dir"
[[ -s "$work/dir/per_image/grey_gradcam.png" ]] || fail_check "--images-dir left out grey.jpg"
[[ -e "$work/dir/per_image/orient_1_gradcam.png" ]] || fail_check "--images-dir left out orient_1.jpg"
expect 0 "faithfulness.csv" "${timm[@]}" --image "$photos/photo_a.jpg" --faithfulness --steps 4 \
  --draws 2 --compare seed,grad-rollout --out "$work/pfaith"
grep -q "| random |" "$work/pfaith/faithfulness.md" || fail_check "published faithfulness.md has no random row"
expect 2 "--model explains your photos" "${timm[@]}" --out "$work/badp"
expect 2 "--model excludes --count" "${timm[@]}" --count 3 --out "$work/badp"
expect 2 "--checkpoint excludes --model" "${timm[@]}" --checkpoint x --image "$photos/photo_a.jpg"
expect 2 "config.json" --model "$work" --image "$photos/photo_a.jpg" --out "$work/badp"
expect 2 "no .jpg, .jpeg or .png files" "${timm[@]}" --images-dir "$published" --out "$work/badp"
expect 2 "5 steps do not split the 16 patches" "${timm[@]}" --image "$photos/photo_a.jpg" --faithfulness --steps 5 --out "$work/badp"
expect 2 "--true-class" "${timm[@]}" --image "$photos/photo_a.jpg" --faithfulness --true-class --out "$work/badp"
expect 2 "--steps applies to --faithfulness only" "${timm[@]}" --image "$photos/photo_a.jpg" --steps 4
expect 2 "--class 7" "${timm[@]}" --image "$photos/photo_a.jpg" --class 7 --out "$work/badp"
head -c 700 "$photos/photo_a.jpg" > "$work/cut.jpg"
expect 1 "cut.jpg" "${timm[@]}" --image "$work/cut.jpg" --out "$work/badp"
[[ -e "$work/badp" ]] && fail_check "a refused run left $work/badp"

if [[ -f "$data/test_batch.bin" ]]; then
  cat > "$work/tiny.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 2, "dropout": 0.0},
 "training": {"batch_size": 50, "lr": 0.001, "epochs": 1}}
JSON
  "$train" --config "$work/tiny.json" --limit-train 100 --val-split 50 --data "$data" \
    --out "$work/run" --threads 1 > "$work/train.log" 2>&1 || { echo "FAIL: training the tiny model"; cat "$work/train.log"; exit 1; }
  ckpt="$work/run/checkpoints/best.safetensors"
  common=(--checkpoint "$ckpt" --data "$data" --threads 1)
  expect 2 "index 10000 is out of range" "${common[@]}" --images 3,10000 --out "$work/bad"
  expect 1 "fake.png: neither a JPEG nor a PNG" "${common[@]}" --image "$work/fake.png" --out "$work/bad"
  [[ -e "$work/bad" ]] && fail_check "a failed run left $work/bad"
  expect 0 "attention_seed.png" "${common[@]}" --out "$work/out"
  expect 0 "attention_compare.png" "${common[@]}" --images 0,5,17 --out "$work/out" \
    --compare seed,rollout,last,grad-rollout,gradcam,random --save-maps "$work/out/maps.npy" --per-image
  for f in attention_seed.png attention_compare.png attention_gradcam.png maps_seed.npy \
           maps_random.npy per_image/test_17_rollout.png; do
    [[ -s "$work/out/$f" ]] || fail_check "$f was not written"
  done
  # The user's own picture: a tile of the grid above, any size, resized to 32 x 32.
  expect 0 "attention_last.png" "${common[@]}" --image "$work/out/attention_compare.png" \
    --method last --class cat --out "$work/own"
  expect 2 "--class horse2" "${common[@]}" --class horse2 --out "$work/own"
  # Faithfulness: a small run writes the table and the plot; bad input is a usage error.
  expect 0 "faithfulness.png" "${common[@]}" --faithfulness --count 2 --draws 2 \
    --compare seed,gradcam --out "$work/faith"
  for f in faithfulness.md faithfulness.csv faithfulness.png; do
    [[ -s "$work/faith/$f" ]] || fail_check "$f was not written"
  done
  grep -q "| random |" "$work/faith/faithfulness.md" || fail_check "faithfulness.md has no random row"
  expect 2 "unknown attribution method 'saliency'" "${common[@]}" --faithfulness --compare seed,saliency --out "$work/badf"
  expect 2 "--count" "${common[@]}" --faithfulness --count 0 --out "$work/badf"
  expect 2 "--draws" "${common[@]}" --faithfulness --draws 0 --out "$work/badf"
  expect 2 "not --image" "${common[@]}" --faithfulness --image "$work/fake.png" --out "$work/badf"
  expect 2 "--class does not apply" "${common[@]}" --faithfulness --class cat --out "$work/badf"
  head -c 1000 "$ckpt" > "$work/truncated.safetensors"
  expect 2 "truncated.safetensors" --checkpoint "$work/truncated.safetensors" --data "$data" \
    --faithfulness --count 1 --out "$work/badf"
  [[ -e "$work/badf" ]] && fail_check "a failed faithfulness run left $work/badf"
else
  echo "skipped the runs on a trained model: $data is absent (run 'make data')"
fi

finish
