#!/usr/bin/env bash
# Brings sav's Debian build dependencies to a GPU machine that reaches no package registry.
#   tools/gpu-machine-deps.sh download [--debs DIR]
#       here, where apt works: the .deb files into DIR (default .gpu-deps/debs, about 20 MB;
#       .gpu-deps/ is git-ignored: carry .gpu-deps/debs to the machine with the tree)
#   tools/gpu-machine-deps.sh unpack [--debs DIR] [--root DIR]
#       there: unpacks them into DIR (default .gpu-deps/root), no root needed, and makes what
#       dpkg would have made: Debian's alternatives links for OpenBLAS (libopenblas.so.0,
#       libblas.so.3, openblas.pc, cblas.h, ...) and .pc files that name the unpacked paths
#   eval "$(tools/gpu-machine-deps.sh env [--root DIR])"
#       there: points pkg-config (at the prefix alone), CMake and the loader at it
# Then build, e.g. cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build;
# tools/gpu-check.sh does all of this and then runs the GPU checks (docs/gpu.md).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
debs="$repo/.gpu-deps/debs"
default_root="$repo/.gpu-deps/root"
root=$default_root
arch=x86_64-linux-gnu
stamp=.sav-gpu-deps  # marks a folder that unpack made, and may empty and make again
# What CMakeLists.txt needs, with the libraries they load: OpenBLAS (pthreads build: Debian's
# default libopenblas.so.0; OpenMP build: the one sav prefers), lodepng, libjpeg-turbo,
# GoogleTest, Google Benchmark, nlohmann-json, CLI11, and pkg-config itself.
packages=(libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0-openmp libopenblas0
          libgfortran5 libquadmath0 liblodepng-dev liblodepng0 libturbojpeg0-dev libturbojpeg0
          libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian nlohmann-json3-dev
          libcli11-dev pkgconf pkgconf-bin libpkgconf3)

say() { echo "gpu-machine-deps: $*" >&2; }
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

# Debian's alternatives for the OpenBLAS build $1 (openblas-pthread or openblas-openmp), as
# libopenblas0-pthread's and libopenblas-pthread-dev's postinst scripts install them: each line
# the link, then its target, relative to usr/. A link whose target is not unpacked is left out.
openblas_alternatives() {
  local b=$1
  cat <<EOF
lib/$arch/libblas.so.3 lib/$arch/$b/libblas.so.3
lib/$arch/liblapack.so.3 lib/$arch/$b/liblapack.so.3
lib/$arch/libopenblas.so.0 lib/$arch/$b/libopenblas.so.0
lib/$arch/libblas.so lib/$arch/$b/libblas.so
lib/$arch/libblas.a lib/$arch/$b/libblas.a
lib/$arch/liblapack.so lib/$arch/$b/liblapack.so
lib/$arch/liblapack.a lib/$arch/$b/liblapack.a
lib/$arch/libopenblas.so lib/$arch/$b/libopenblas.so
lib/$arch/libopenblas.a lib/$arch/$b/libopenblas.a
lib/$arch/pkgconfig/blas.pc lib/$arch/$b/pkgconfig/blas-openblas.pc
lib/$arch/pkgconfig/lapack.pc lib/$arch/$b/pkgconfig/lapack-openblas.pc
lib/$arch/pkgconfig/openblas.pc lib/$arch/$b/pkgconfig/openblas.pc
lib/$arch/cmake/openblas/OpenBLASConfig.cmake lib/$arch/$b/cmake/openblas/OpenBLASConfig.cmake
lib/$arch/cmake/openblas/OpenBLASConfigVersion.cmake lib/$arch/$b/cmake/openblas/OpenBLASConfigVersion.cmake
include/$arch/cblas.h include/$arch/$b/cblas.h
include/$arch/cblas-openblas.h include/$arch/$b/cblas.h
include/$arch/f77blas.h include/$arch/$b/f77blas.h
include/$arch/openblas_config.h include/$arch/$b/openblas_config.h
EOF
}

download() {
  mkdir -p "$debs"
  rm -f "$debs"/*.deb
  if ! (cd "$debs" && apt-get download "${packages[@]}"); then
    say "apt-get download failed (run 'apt-get update' first if a package was not found)"
    exit 1
  fi
  local count
  count=$(find "$debs" -maxdepth 1 -name '*.deb' | wc -l)
  say "downloaded $count packages ($(du -sh "$debs" | cut -f1)) into $debs"
}

# extract DEB: its files into $root, as dpkg -x does; without dpkg, with ar and tar.
extract() {
  if command -v dpkg-deb > /dev/null; then
    dpkg-deb -x "$1" "$root"
    return
  fi
  local member
  member=$(ar t "$1" | grep '^data\.tar') || { say "$1: no data.tar in it"; exit 1; }
  case "$member" in
    *.xz) ar p "$1" "$member" | tar -xJ -C "$root" ;;
    *.zst) ar p "$1" "$member" | tar -x --zstd -C "$root" ;;
    *.gz) ar p "$1" "$member" | tar -xz -C "$root" ;;
    *) ar p "$1" "$member" | tar -x -C "$root" ;;
  esac
}

unpack() {
  local files=("$debs"/*.deb)
  if [[ ! -e "${files[0]}" ]]; then
    say "no .deb files in $debs: run '$0 download' where apt works, and carry the folder here"
    exit 1
  fi
  if [[ "$root" == *'#'* ]]; then
    say "the prefix's path may not hold '#': $root"
    exit 2
  fi
  if [[ "$root" != "$default_root" && -e "$root" && ! -e "$root/$stamp" && -n "$(ls -A "$root")" ]]; then
    say "$root is not empty and was not made by '$0 unpack': choose another --root"
    exit 2
  fi
  rm -rf "$root"
  mkdir -p "$root"
  local deb
  for deb in "${files[@]}"; do extract "$deb"; done

  # The .pc and CMake files name /usr; make them name the prefix, so that pkg-config gives
  # -I and -L options into it (pkg-config only reads these files, it never looks for them).
  local pc
  while IFS= read -r -d '' pc; do
    sed -i -E -e "s#^([A-Za-z_.]+=)/usr(/|\$)#\\1$root/usr\\2#" \
              -e "s#(-[IL])/usr/#\\1$root/usr/#g" "$pc"
  done < <(find "$root" -name '*.pc' -type f -print0)
  while IFS= read -r -d '' pc; do
    sed -i -E "s#([ (\"])/usr/#\\1$root/usr/#g" "$pc"
  done < <(find "$root/usr/lib/$arch" -path '*/openblas-*/cmake/*' -name '*.cmake' -type f -print0)

  # Debian's alternatives (dpkg -x runs no postinst): the pthreads build where it is unpacked,
  # as Debian chooses by priority, otherwise the OpenMP build.
  local build=openblas-pthread link target made=0
  [[ -e "$root/usr/lib/$arch/$build/libopenblas.so.0" ]] || build=openblas-openmp
  while read -r link target; do
    [[ -n "$target" && -e "$root/usr/$target" ]] || continue
    mkdir -p "$(dirname "$root/usr/$link")"
    ln -sfn "$(realpath -s -m --relative-to="$(dirname "$root/usr/$link")" "$root/usr/$target")" \
      "$root/usr/$link"
    made=$((made + 1))
  done < <(openblas_alternatives "$build")
  if [[ ! -e "$root/usr/lib/$arch/pkgconfig/openblas.pc" ]]; then
    say "no openblas.pc among the unpacked packages (is libopenblas-pthread-dev in $debs?)"
    exit 1
  fi
  printf '%s\n' "${files[@]##*/}" > "$root/$stamp"
  say "unpacked ${#files[@]} packages into $root ($made OpenBLAS links to $build)"
}

# The lines print ${PATH...} as they are, for the shell that evaluates them.
# shellcheck disable=SC2016
env_lines() {
  local prefix="$root/usr"
  local lib="$prefix/lib/$arch"
  if [[ ! -e "$root/$stamp" ]]; then
    say "$root was not made by '$0 unpack': run that first"
    exit 1
  fi
  # pkg-config reads the prefix alone (PKG_CONFIG_LIBDIR replaces its default folders); the
  # compiler searches the prefix's include folders as it does /usr/include and
  # /usr/include/x86_64-linux-gnu (where Debian's alternatives put cblas.h); LIBRARY_PATH is
  # where CMakeLists.txt looks for the OpenMP build of OpenBLAS; the loader needs the prefix for
  # pkgconf's own library and for what OpenBLAS loads (libgfortran).
  printf 'export PATH=%q${PATH:+:$PATH}\n' "$prefix/bin"
  printf 'export PKG_CONFIG_LIBDIR=%q\n' "$lib/pkgconfig:$prefix/share/pkgconfig"
  printf 'export CPATH=%q${CPATH:+:$CPATH}\n' "$prefix/include/$arch:$prefix/include"
  printf 'export CMAKE_PREFIX_PATH=%q${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}\n' "$prefix"
  printf 'export LIBRARY_PATH=%q${LIBRARY_PATH:+:$LIBRARY_PATH}\n' "$lib"
  printf 'export LD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n' "$lib"
}

command=${1:-}
[[ $# -gt 0 ]] && shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --debs | --root)
      if [[ $# -lt 2 || -z "$2" ]]; then say "$1 needs a folder"; exit 2; fi
      if [[ "$1" == --debs ]]; then debs=$(realpath -m "$2"); else root=$(realpath -m "$2"); fi
      shift 2
      ;;
    *) say "unknown argument '$1' (see '$0 --help')"; exit 2 ;;
  esac
done

case "$command" in
  download) download ;;
  unpack) unpack ;;
  env) env_lines ;;
  -h | --help) usage ;;
  *)
    usage >&2
    [[ -z "$command" ]] || say "unknown command '$command'"
    exit 2
    ;;
esac
