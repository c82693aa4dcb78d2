#!/bin/bash
# The build's layers, checked on the sources: a directory of src/ (and its public headers under
# include/sav/) may include only headers of its own layer or of a lower one. The libraries are
# linked in this order too (CMakeLists.txt), so that a call upwards fails to link; this check
# also catches an include upwards that calls nothing, and names the line. The tensor core's
# private headers (src/core, src/ops, src/backends) are for the tensor core alone.
#
# Usage: check_layers.sh SOURCE_DIR        check the tree
#        check_layers.sh --self-test       show that a tree with an include upwards fails
set -u

# Layer of each directory, lowest first. A directory's headers are "sav/<dir>/..." (public) or
# "<dir>/..." (private, under src/); the tensor core's public headers sit in include/sav itself.
layer_of_dir() {
  case "$1" in
    core | ops | backends | optim | "") echo 0 ;;  # sav_tensor ("" is include/sav/*.h)
    io | dist) echo 1 ;;                           # sav_io, sav_dist
    data) echo 2 ;;                                # sav_data
    nn) echo 3 ;;                                  # sav_model
    image) echo 4 ;;                               # sav_image
    hub) echo 5 ;;                                 # sav_hub
    attribution) echo 6 ;;                         # sav_attribution
    viz) echo 7 ;;                                 # sav_figures
    train) echo 8 ;;                               # sav_training
    programs) echo 9 ;;                            # the programs
    *) echo unknown ;;
  esac
}

# The directory a quoted include names: "sav/nn/vit.h" -> nn, "sav/ops.h" -> "",
# "backends/backend.h" -> backends.
dir_of_include() {
  local path=$1
  path=${path#sav/}
  case "$path" in
    */*) echo "${path%%/*}" ;;
    *) echo "" ;;
  esac
}

check_tree() {
  local root=$1 bad=0 file dir layer line include target target_layer
  [ -d "$root/src" ] || { echo "check_layers: $root/src is not a folder" >&2; return 2; }
  while IFS= read -r file; do
    case "$file" in
      "$root"/src/*) dir=${file#"$root"/src/} ;;
      "$root"/include/sav/*/*) dir=${file#"$root"/include/sav/} ;;
      *) dir="" ;;
    esac
    case "$dir" in */*) dir=${dir%%/*} ;; *) dir="" ;; esac
    layer=$(layer_of_dir "$dir")
    if [ "$layer" = unknown ]; then
      echo "$file: directory '$dir' has no layer; add it to tests/check_layers.sh" >&2
      bad=1
      continue
    fi
    while IFS= read -r line; do
      include=$(sed -E 's/^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/' <<<"$line")
      target=$(dir_of_include "$include")
      target_layer=$(layer_of_dir "$target")
      [ "$target_layer" = unknown ] && continue  # a header of the same folder, or a test's
      # The tensor core's private headers (the kernel interface, the tape's internals) are for
      # the core, the ops, the backends and the optimizer; everything above goes through Tensor
      # and sav/device.h.
      if [ "$target_layer" = 0 ] && [ "$include" != "${include#*/}" ] &&
        [ "${include%%/*}" != sav ] && [ "$layer" != 0 ]; then
        echo "${file#"$root"/}:${line%%:*}: includes the tensor core's private \"$include\" from $dir; use sav/tensor.h or sav/device.h" >&2
        bad=1
        continue
      fi
      if [ "$target_layer" -gt "$layer" ]; then
        echo "${file#"$root"/}:${line%%:*}: includes \"$include\" (layer of ${target:-the tensor core}, $target_layer) from ${dir:-the tensor core} (layer $layer)" >&2
        bad=1
      fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$file")
  done < <(find "$root/src" "$root/include/sav" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) | sort)
  return $bad
}

if [ "${1:-}" = "--self-test" ]; then
  # A tree that keeps its layers passes; the same tree with one include upwards fails.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src/ops" "$work/src/nn" "$work/include/sav/nn"
  printf '#include "sav/tensor.h"\n#include "ops/checks.h"\n' >"$work/src/ops/linear.cpp"
  printf '#include "sav/ops.h"\n#include "sav/nn/vit.h"\n' >"$work/src/nn/vit.cpp"
  printf '#include "sav/tensor.h"\n' >"$work/include/sav/nn/vit.h"
  check_tree "$work" || { echo "self-test: a tree that keeps its layers was refused" >&2; exit 1; }
  # Each case adds one include to a file, expects the tree refused with `report` naming that
  # line, and takes the include out again.
  expect_refused() {
    local file=$1 include=$2 report=$3
    printf '#include "%s"\n' "$include" >>"$work/$file"
    if check_tree "$work" 2>"$work/log"; then
      echo "self-test: #include \"$include\" in $file was not caught" >&2
      exit 1
    fi
    grep -qF "$file:3: $report" "$work/log" || {
      echo "self-test: the report does not name $file:3 and '$report':" >&2
      cat "$work/log" >&2
      exit 1
    }
    sed -i '$d' "$work/$file"
    check_tree "$work" || { echo "self-test: the repaired tree was refused" >&2; exit 1; }
  }
  expect_refused src/ops/linear.cpp sav/nn/vit.h 'includes "sav/nn/vit.h"'
  # The kernel interface from the model: private to the tensor core.
  expect_refused src/nn/vit.cpp backends/backend.h "includes the tensor core's private"
  echo "self-test passed"
  exit 0
fi

[ $# -eq 1 ] || { echo "usage: $0 SOURCE_DIR | --self-test" >&2; exit 2; }
if check_tree "$1"; then
  echo "every include keeps to the layers"
else
  echo "check_layers: includes upwards found (above); move the code down, or the include" >&2
  exit 1
fi
