#!/usr/bin/env bash
# Brings sav's Debian build dependencies to a GPU machine that reaches no package registry.
#   tools/gpu-machine-deps.sh download   (here, with apt): the .deb files into .gpu-deps/debs
#                                         (about 14 MB; .gpu-deps/ is git-ignored: carry
#                                         .gpu-deps/debs to the machine with the tree)
#   tools/gpu-machine-deps.sh unpack     (there): unpacks them into .gpu-deps/root, no root needed
#   source <(tools/gpu-machine-deps.sh env)   (there): points CMake, pkg-config and the loader
#                                              at .gpu-deps/root
# Then build as usual, e.g. cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.gpu-deps"
packages=(libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0-openmp libopenblas0 libgfortran5
          libquadmath0 liblodepng-dev liblodepng0 libgtest-dev libgmock-dev libbenchmark-dev
          libbenchmark1debian nlohmann-json3-dev libcli11-dev pkgconf pkgconf-bin libpkgconf3)

case "${1:-}" in
  download)
    mkdir -p "$deps/debs"
    (cd "$deps/debs" && apt-get download "${packages[@]}")
    echo "downloaded $(ls "$deps/debs" | wc -l) packages into $deps/debs"
    ;;
  unpack)
    [[ -d "$deps/debs" ]] || { echo "no $deps/debs: run '$0 download' where apt works" >&2; exit 1; }
    mkdir -p "$deps/root"
    for deb in "$deps"/debs/*.deb; do dpkg -x "$deb" "$deps/root"; done
    # The alternatives system would link these; do it by hand for the prefix.
    lib="$deps/root/usr/lib/x86_64-linux-gnu"
    ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
    ln -sf openblas-pthread/libopenblas.so "$lib/libopenblas.so"
    ln -sf openblas-pthread/cblas.h "$deps/root/usr/include/x86_64-linux-gnu/cblas.h" 2>/dev/null || true
    echo "unpacked into $deps/root"
    ;;
  env)
    prefix="$deps/root/usr"
    lib="$prefix/lib/x86_64-linux-gnu"
    echo "export CMAKE_PREFIX_PATH=\"$prefix:$lib/cmake:$prefix/share/cmake\""
    echo "export PKG_CONFIG_PATH=\"$lib/pkgconfig:$prefix/share/pkgconfig\""
    echo "export CPATH=\"$prefix/include:$prefix/include/x86_64-linux-gnu/openblas-pthread\""
    echo "export LIBRARY_PATH=\"$lib:$lib/openblas-pthread\""
    echo "export LD_LIBRARY_PATH=\"$lib:$lib/openblas-pthread:\${LD_LIBRARY_PATH:-}\""
    echo "export PATH=\"$prefix/bin:\$PATH\""
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
