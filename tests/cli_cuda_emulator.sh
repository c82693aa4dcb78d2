#!/usr/bin/env bash
# sav_train and sav_viz with --device cuda, the CUDA backend running on the CUDA emulator
# (tests/cuda_emulator): the programs' GPU paths end to end (batches up, metrics down,
# checkpoints written from and resumed into GPU tensors, heat maps from GPU gradients), and the
# same numbers as on the CPU. Runs on a small cut of the real data: the emulator is slow.
# Usage: cli_cuda_emulator.sh PATH/TO/sav_train PATH/TO/sav_viz PATH/TO/emulated-module SOURCE_DIR
set -u
tests_dir=$(cd "$(dirname "$0")" && pwd)
train=$1
viz=$2
module=$3
source_dir=$4
cd "$source_dir" || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$tests_dir/cli_lib.sh"

data="$source_dir/data/cifar-10-batches-bin"
if [[ ! -f "$data/test_batch.bin" ]]; then
  echo "skipped: $data is absent (run 'make data')"
  exit 0
fi
# 40 records of each training batch, 200 test records.
mkdir -p "$work/data"
for i in 1 2 3 4 5; do head -c $((3073 * 40)) "$data/data_batch_$i.bin" > "$work/data/data_batch_$i.bin"; done
head -c $((3073 * 200)) "$data/test_batch.bin" > "$work/data/test_batch.bin"
cp "$data/batches.meta.txt" "$work/data/"
cat > "$work/tiny.json" <<'JSON'
{"model": {"d_model": 16, "h": 2, "N": 1, "dropout": 0.1},
 "training": {"batch_size": 50, "lr": 0.001, "epochs": 2}}
JSON
args=(--config "$work/tiny.json" --data "$work/data" --val-split 50)

program=$train
expect 0 "best validation checkpoint" "${args[@]}" --device cpu --out "$work/cpu"
export SAV_CUDA_MODULE_PATH=$module
expect 0 "on cuda:0: sav CUDA emulator" "${args[@]}" --device cuda --out "$work/gpu" --epochs 1
expect 0 "resuming after epoch 1" "${args[@]}" --device cuda --out "$work/gpu" --resume
expect 0 "cuBLAS with TF32 tensor-core products" "${args[@]}" --device cuda --out "$work/tf32" --epochs 1 --tf32
# Steps replayed from CUDA graphs train the model that steps run as issued do, bit for bit: 9
# steps, of which the last 4 are replays (train::TrainStep records a step the second time it
# meets its tensors, one graph for each upload slot).
expect 0 "CUDA graphs: 2 recorded, replayed for 4 of the steps" "${args[@]}" --device cuda \
  --out "$work/graphs" --epochs 3
"$train" "${args[@]}" --device cuda --out "$work/no-graphs" --epochs 3 --no-graphs \
  > "$work/no-graphs.txt" 2>&1 || fail_check "the run with --no-graphs failed: $(tail -3 "$work/no-graphs.txt")"
! grep -q "CUDA graphs" "$work/no-graphs.txt" || fail_check "--no-graphs still recorded graphs"
for file in last best; do
  cmp -s "$work/graphs/checkpoints/$file.safetensors" "$work/no-graphs/checkpoints/$file.safetensors" ||
    fail_check "$file.safetensors differs between the runs with and without CUDA graphs"
done
# A driver older than the runtime: the runtime's own error, not a guess.
SAV_CUDA_EMULATOR_DRIVER=old expect 1 "cudaErrorInsufficientDriver: CUDA driver version is insufficient" \
  "${args[@]}" --device cuda --out "$work/old-driver"
[[ ! -e "$work/old-driver/checkpoints" ]] || fail_check "a run refused for its driver left checkpoints"

# Every logged figure but speed and time: the GPU run (resumed halfway) follows the CPU's.
compare=$(paste -d, "$work/cpu/outputs/train_log.csv" "$work/gpu/outputs/train_log.csv" | awk -F, '
  NR == 1 { next }
  { for (i = 2; i <= 7; ++i) { d = $i - $(i + 9); if (d < 0) d = -d; if (d > 2e-3) bad = bad " " $1 ":" i } }
  END { print (NR == 3 ? "" : "rows " NR) bad }')
[[ -z "$compare" ]] || fail_check "the emulated GPU's training log differs from the CPU's: $compare"

program=$viz
expect 0 "attention_seed.png" --checkpoint "$work/gpu/checkpoints/last.safetensors" \
  --data "$work/data" --count 4 --device cuda --out "$work/maps_gpu" --save-maps "$work/gpu.npy"
expect 0 "attention_seed.png" --checkpoint "$work/gpu/checkpoints/last.safetensors" \
  --data "$work/data" --count 4 --device cpu --out "$work/maps_cpu" --save-maps "$work/cpu.npy"
[[ -s "$work/maps_gpu/attention_seed.png" ]] || fail_check "no heat maps from the GPU run"
python3 - "$work/gpu.npy" "$work/cpu.npy" <<'PY' || fail_check "GPU and CPU heat maps differ"
import struct, sys
def load(path):
    data = open(path, "rb").read()
    header_len = struct.unpack("<H", data[8:10])[0]
    body = data[10 + header_len:]
    return struct.unpack("<%df" % (len(body) // 4), body)
gpu, cpu = load(sys.argv[1]), load(sys.argv[2])
worst = max(abs(a - b) for a, b in zip(gpu, cpu))
print("largest difference between the maps:", worst)
sys.exit(0 if len(gpu) == len(cpu) == 4 * 64 and worst < 1e-4 else 1)
PY
expect 1 "device cuda:1 is not available" --checkpoint "$work/gpu/checkpoints/last.safetensors" --data "$work/data" \
  --count 1 --device cuda:1 --out "$work/none"

# A module path that holds no module: the error names the file and where the path came from.
program=$train
SAV_CUDA_MODULE_PATH="$work/none.so" expect 1 "$work/none.so: cannot open shared object file" \
  "${args[@]}" --device cuda --out "$work/none"
SAV_CUDA_MODULE_PATH="$work/tiny.json" expect 1 "(from SAV_CUDA_MODULE_PATH)" \
  "${args[@]}" --device cuda --out "$work/none"

finish
