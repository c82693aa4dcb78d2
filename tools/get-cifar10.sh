#!/usr/bin/env bash
# Puts the CIFAR-10 binary batches in data/cifar-10-batches-bin/, from the first source that
# works:
#   1. the folder named by SAV_CIFAR_DIR (linked; checked against a SHA256SUMS beside it, if any);
#   2. ../shared/cifar10/cifar-10-batches-bin beside the repository (linked; checked against its
#      SHA256SUMS);
#   3. the official cifar-10-binary.tar.gz, downloaded with curl, md5-checked and unpacked.
# The folder appears whole or not at all: everything is assembled in a temporary folder and
# renamed into place. Usage: tools/get-cifar10.sh [--force]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/data/cifar-10-batches-bin"
files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin
       test_batch.bin)
record_bytes=3073
file_bytes=$((10000 * record_bytes))
url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
tar_md5="c32a1d4ab5d03f1284b67883e8d87530"

say() { echo "get-cifar10: $*" >&2; }

# Whether folder $1 holds the six batches at their full size.
complete() {
  local f size
  for f in "${files[@]}"; do
    [[ -e "$1/$f" ]] || return 1
    size=$(stat -L -c %s "$1/$f" 2>/dev/null) || return 1
    [[ "$size" == "$file_bytes" ]] || return 1
  done
}

if [[ "${1:-}" != "--force" ]] && complete "$dest"; then
  exit 0
fi

mkdir -p "$root/data"
work=$(mktemp -d "$root/data/.cifar-10-batches-bin.XXXXXX")
trap 'rm -rf "$work"' EXIT
tried=()

write_meta() {  # $1: a batches.meta.txt to use if it exists
  if [[ -f "$1" ]]; then
    cp "$1" "$work/batches.meta.txt"
  else
    printf '%s\n' airplane automobile bird cat deer dog frog horse ship truck > "$work/batches.meta.txt"
  fi
}

# Checks the files of folder $1 against a SHA256SUMS file $2 whose lines name them as
# "<hash>  <something>/<file>" or "<hash>  <file>".
check_sums() {
  local dir=$1 sums=$2 f expected actual
  for f in "${files[@]}"; do
    expected=$(awk -v f="$f" '{ n = $2; sub(".*/", "", n); if (n == f) print $1 }' "$sums")
    if [[ -z "$expected" ]]; then
      say "$sums does not list $f"
      return 1
    fi
    actual=$(sha256sum "$dir/$f" | cut -d' ' -f1)
    if [[ "$actual" != "$expected" ]]; then
      say "$dir/$f: SHA-256 $actual does not match $expected in $sums"
      return 1
    fi
  done
}

# Links the batches of local folder $1 into the work folder after checking them.
from_folder() {
  local dir sums=""
  dir=$(cd "$1" 2>/dev/null && pwd) || { say "$1: no such folder"; return 1; }
  if ! complete "$dir"; then
    say "$dir: does not hold the six batch files of $file_bytes bytes each"
    return 1
  fi
  for candidate in "$dir/SHA256SUMS" "$dir/../SHA256SUMS"; do
    [[ -f "$candidate" ]] && { sums=$candidate; break; }
  done
  if [[ -n "$sums" ]]; then
    say "checking $dir against $sums"
    check_sums "$dir" "$sums" || return 1
  else
    say "$dir: no SHA256SUMS beside it; checked the sizes only"
  fi
  for f in "${files[@]}"; do ln -s "$dir/$f" "$work/$f"; done
  write_meta "$dir/batches.meta.txt"
}

from_download() {
  if ! command -v curl >/dev/null 2>&1; then
    say "curl is not installed (apt-get install curl)"
    return 1
  fi
  say "downloading $url"
  if ! curl -fsSL --retry 2 --connect-timeout 20 -o "$work/cifar-10-binary.tar.gz" "$url"; then
    say "download failed"
    return 1
  fi
  local md5
  md5=$(md5sum "$work/cifar-10-binary.tar.gz" | cut -d' ' -f1)
  if [[ "$md5" != "$tar_md5" ]]; then
    say "the download's md5 is $md5, not $tar_md5"
    return 1
  fi
  tar -xzf "$work/cifar-10-binary.tar.gz" -C "$work"
  rm "$work/cifar-10-binary.tar.gz"
  mv "$work"/cifar-10-batches-bin/* "$work"/
  rmdir "$work/cifar-10-batches-bin"
  complete "$work" || { say "the archive does not hold the six batches"; return 1; }
  [[ -f "$work/batches.meta.txt" ]] || write_meta /nonexistent
}

clear_work() { find "$work" -mindepth 1 -delete; }

done_from=""
if [[ -n "${SAV_CIFAR_DIR:-}" ]]; then
  tried+=("SAV_CIFAR_DIR=$SAV_CIFAR_DIR")
  if from_folder "$SAV_CIFAR_DIR"; then done_from=$SAV_CIFAR_DIR; else clear_work; fi
fi
shared="$root/../shared/cifar10/cifar-10-batches-bin"
if [[ -z "$done_from" && -d "$shared" ]]; then
  tried+=("$shared")
  if from_folder "$shared"; then done_from=$shared; else clear_work; fi
fi
if [[ -z "$done_from" ]]; then
  tried+=("$url")
  if from_download; then done_from=$url; else clear_work; fi
fi

if [[ -z "$done_from" ]]; then
  say "could not get CIFAR-10. Tried, in order:"
  for t in "${tried[@]}"; do say "  $t"; done
  say "Download cifar-10-binary.tar.gz (the binary version) from $url by other means,"
  say "unpack it, and run: SAV_CIFAR_DIR=/path/to/cifar-10-batches-bin make data"
  exit 1
fi

rm -rf "$dest"
chmod 755 "$work"
mv "$work" "$dest"
trap - EXIT
say "data/cifar-10-batches-bin ready (from $done_from)"
