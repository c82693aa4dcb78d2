#!/usr/bin/env bash
# Makes the worst inputs sav has been given (files that claim huge sizes, nest deeply, never end
# or block) and runs the programs on them, printing for each the exit status, wall time, peak
# resident memory and the first line of the message. Every one must end with status 1 or 2, at
# once, in a few MB: this is the measurement behind the limits in the README.
#   tools/hostile-inputs.sh [BUILD_DIR]
set -uo pipefail
build=$(cd "${1:-build}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
model=$repo/fuzz/corpus/checkpoint/tiny_model
for program in sav_train sav_viz; do
  if [[ ! -x "$build/$program" ]]; then
    echo "hostile-inputs: $build/$program is missing (run 'make' first)" >&2
    exit 2
  fi
done
if [[ ! -x /usr/bin/time ]]; then
  echo "hostile-inputs: needs GNU time (apt-get install time)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

python3 - <<'PY'
import json, os, struct, zlib

def config(model):
    m = {"d_model": 256, "h": 8, "N": 6, "dropout": 0.1}
    m.update(model)
    return {"data": {"random_seed": 42, "channels": 3, "patch_size": [4, 4], "n_classes": 10},
            "model": m, "training": {"batch_size": 100, "lr": 1e-4, "epochs": 1}}

json.dump(config({"d_ff": 2**62}), open("d_ff_2e62.json", "w"))
json.dump(config({"d_model": 2**62}), open("d_model_2e62.json", "w"))
open("nested_100k.json", "w").write('{"model": {"d_model": ' + "[" * 100000 + "]" * 100000 + "}}")
open("key_10MB.json", "w").write('{"model": {"' + "x" * 10_000_000 + '": 1}}')
open("number_1e999.json", "w").write('{"model": {"d_model": 1e999}}')

def safetensors(path, tensors, metadata, payload=b""):
    header = dict(tensors)
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + payload)

meta = {"format": "sav-vit/1", "epoch": "1", "step": "1", "best_epoch": "1",
        "best_val_accuracy": "0.5", "best_test_accuracy": "0.5"}
claim = dict(meta, config=json.dumps(config({"N": 10_000_000})))
one = {"patch_embed.weight": {"dtype": "F32", "shape": [256, 48], "data_offsets": [0, 49152]}}
safetensors("n_10M_layers.safetensors", one, claim, bytes(49152))
safetensors("d_ff_2e62.safetensors", one, dict(meta, config=json.dumps(config({"d_ff": 2**62}))),
            bytes(49152))
many = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
        for i in range(200_000)}
safetensors("tensors_200k.safetensors", many, dict(meta, config=json.dumps(config({}))),
            bytes(800_000))
deep = "[" * 100_000 + "]" * 100_000
text = ('{"a": {"dtype": "F32", "shape": ' + deep + ', "data_offsets": [0, 4]}}').encode()
open("nested_100k.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + bytes(4))

def png(path, width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    z = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then pixels of palette entry 0
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette: colour
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"PLTE", bytes(3)) +
                chunk(b"IDAT", idat) + chunk(b"IEND", b""))

png("side_40000.png", 40000, 40000)
png("row_268M.png", 268_435_456, 1)
png("largest_8192.png", 8192, 8192)  # 64 Mpixel: the most a PNG may have
PY

# A CIFAR-10 folder whose first batch is a FIFO and whose other files are one-record batches.
mkdir -p fifo_data && mkfifo fifo_data/data_batch_1.bin config.fifo
for f in data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  head -c 3073 /dev/zero >"fifo_data/$f.bin"
done
report() {  # name, file (for its size), command...
  local name=$1 file=$2
  shift 2
  /usr/bin/time -f '%e %M' -o time.txt timeout 120 "$@" </dev/null >out.txt 2>&1
  local status=$?
  local seconds kb message size=0
  read -r seconds kb < <(tail -1 time.txt)
  message=$(grep -v '^no usable GPU' out.txt | head -1 | cut -c1-100)
  [[ -f "$file" ]] && size=$(stat -c %s "$file")
  printf '%-26s %9s KB  exit %-3s %6s s  %5s MB  %s\n' "$name" "$((size / 1024))" "$status" \
    "$seconds" "$((kb / 1024))" "$message"
}
printf '%-26s %12s  %-8s %8s  %8s  %s\n' input "file size" status time "peak RSS" message
for f in d_ff_2e62.json d_model_2e62.json nested_100k.json key_10MB.json number_1e999.json; do
  report "$f" "$f" "$build/sav_train" --config "$f" --epochs 1 --out run
done
report "/dev/zero as --config" - "$build/sav_train" --config /dev/zero --out run
report "FIFO as --config" - "$build/sav_train" --config config.fifo --out run
report "FIFO as data_batch_1.bin" - "$build/sav_train" --config "$repo/data/config.json" \
  --data fifo_data --out run
for f in n_10M_layers.safetensors d_ff_2e62.safetensors tensors_200k.safetensors \
         nested_100k.safetensors; do
  report "$f" "$f" "$build/sav_viz" --checkpoint "$f" --out viz
done
report "/dev/zero as --checkpoint" - "$build/sav_viz" --checkpoint /dev/zero --out viz
for f in side_40000.png row_268M.png largest_8192.png; do
  report "$f" "$f" "$build/sav_viz" --checkpoint "$model" --image "$f" --out viz
done
