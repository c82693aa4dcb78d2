#!/usr/bin/env bash
# Installs the Debian packages sav builds with. Safe to run again: it installs only what is
# missing. Usage: tools/install-deps.sh [--check]
#   --check   only report; exit 1 when something is missing.
set -euo pipefail

packages=(g++ cmake make pkg-config libopenblas-dev libopenblas0-openmp liblodepng-dev libgtest-dev libbenchmark-dev
          nlohmann-json3-dev libcli11-dev libboost-context-dev libturbojpeg0-dev libopenmpi-dev openmpi-bin clang-format)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
  done
else
  echo "install-deps: this is not a Debian-based system (no dpkg-query)." >&2
  echo "install-deps: install these with your package manager, then run 'make' again:" >&2
  echo "  ${packages[*]}" >&2
  exit 1
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "${1:-}" == "--check" ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this once, then 'make' again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
