#!/usr/bin/env bash
# Formats sav's C++ and CUDA sources with clang-format (.clang-format: Google style, 100
# columns, includes grouped and sorted).
# Usage: tools/format.sh           rewrite the files in place
#        tools/format.sh --check   change nothing; list the files that are not formatted and exit 1
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang-format >/dev/null 2>&1; then
  echo "format: clang-format is not installed (tools/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.cu' '*.cuh' '*.hpp')
if [[ ${#files[@]} -eq 0 ]]; then
  echo "format: no sources found (run it inside the repository)" >&2
  exit 1
fi

if [[ "${1:-}" == "--check" ]]; then
  unformatted=()
  for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then unformatted+=("$f"); fi
  done
  if [[ ${#unformatted[@]} -gt 0 ]]; then
    echo "format: $(clang-format --version | head -1) would change ${#unformatted[@]} file(s):" >&2
    printf '  %s\n' "${unformatted[@]}" >&2
    echo "format: run tools/format.sh (or make format) and commit the result" >&2
    exit 1
  fi
  echo "format: all ${#files[@]} sources are formatted"
elif [[ $# -eq 0 ]]; then
  clang-format --style=file -i "${files[@]}"
else
  echo "usage: tools/format.sh [--check]" >&2
  exit 2
fi
