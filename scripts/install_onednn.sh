#!/usr/bin/env bash
# Installs oneDNN v3 (3.2.0, CPU, GNU OpenMP threading) from PyPI into a project-local prefix:
#   build/onednn/prefix/{include,lib/libdnnl.so.3.2,lib/cmake/dnnl/dnnl-config.cmake}
# cmake/ebm_onednn.cmake looks there first (or wherever EBM_ONEDNN_ROOT / DNNL_DIR points).
#
# Why these wheels: PyPI's plain `onednn`/`onednn-devel` (2024.x-2026.x) are Intel's DPC++ builds: their libdnnl
# needs the SYCL runtime, libsvml/libimf/libintlc and TBB, and the devel wheel ships no CMake config. The
# `onednn-cpu-gomp` + `onednn-devel-cpu-gomp` pair 2023.2.0 (oneDNN 3.2.0) is the newest CPU-only build; it links
# only libgomp (the OpenMP runtime ebm already uses) and ships dnnl-config.cmake with the DNNL::dnnl target.
#
# Idempotent: a stamp file makes reruns return at once. Unattended: no prompts. Wheels are pinned by version and
# sha256. Environment: EBM_ONEDNN_PREFIX overrides the prefix; EBM_ONEDNN_REQUIRED=1 turns a failed download into
# an error (by default the script warns and exits 0, and the build skips the ConvNet pieces).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version=2023.2.0
dnnl_version=3.2.0
root="${EBM_ONEDNN_PREFIX:-$repo/build/onednn}"
prefix="$root/prefix"
stamp="$prefix/.ebm-onednn-$version"
if [ -f "$stamp" ] && [ -f "$prefix/lib/cmake/dnnl/dnnl-config.cmake" ] && [ -e "$prefix/lib/libdnnl.so.3.2" ]; then
  echo "install_onednn: oneDNN $dnnl_version present in $prefix"
  exit 0
fi

soft_fail() {
  echo "install_onednn: WARNING: $1; the ConvNet (oneDNN) parts of ebm will be skipped" >&2
  if [ "${EBM_ONEDNN_REQUIRED:-0}" = 1 ]; then exit 1; fi
  exit 0
}

python=""
for candidate in python3 /usr/bin/python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || soft_fail "no python with pip found"

wheels="$root/wheels"
mkdir -p "$wheels"
requirements="$root/requirements.txt"
cat >"$requirements" <<EOF
onednn-cpu-gomp==$version --hash=sha256:2f22a54d6a890ed14bfa185d42a4be65d8b5b1df85dc1f0f3a9abe31620416fb
onednn-devel-cpu-gomp==$version --hash=sha256:9763c69e8c907e119056bd52ad918ca84ac9ba939d130a99dfa95ccca3e5e284
EOF
echo "install_onednn: fetching onednn-devel-cpu-gomp==$version (oneDNN $dnnl_version) from PyPI"
ok=0
for attempt in 1 2 3; do
  if PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$python" -m pip download --quiet --no-deps --only-binary=:all: \
      --require-hashes -r "$requirements" -d "$wheels"; then
    ok=1; break
  fi
  echo "install_onednn: download attempt $attempt failed" >&2
  sleep $((attempt * 5))
done
[ "$ok" = 1 ] || soft_fail "could not download the oneDNN wheels from PyPI"

# Unpack the wheels' data/ trees into the prefix. The runtime wheel stores libdnnl three times (no symlinks in
# zips): keep one copy and make the usual symlinks.
staging="$root/staging"
rm -rf "$staging" "$prefix"
mkdir -p "$staging" "$prefix"
"$python" - "$wheels" "$staging" "$version" <<'EOF'
import sys, zipfile, pathlib
wheels, staging, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
for name in ("onednn_cpu_gomp", "onednn_devel_cpu_gomp"):
    (wheel,) = wheels.glob(f"{name}-{version}-*.whl")
    with zipfile.ZipFile(wheel) as z:
        data = f"{name}-{version}.data/data/"
        for info in z.infolist():
            if not info.filename.startswith(data) or info.is_dir():
                continue
            rel = info.filename[len(data):]
            if rel in ("lib/libdnnl.so", "lib/libdnnl.so.3"):
                continue
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
EOF
cp -a "$staging"/. "$prefix"/
rm -rf "$staging"
chmod 755 "$prefix/lib/libdnnl.so.3.2"
ln -sf libdnnl.so.3.2 "$prefix/lib/libdnnl.so.3"
ln -sf libdnnl.so.3 "$prefix/lib/libdnnl.so"
for f in include/oneapi/dnnl/dnnl.hpp include/oneapi/dnnl/dnnl_version.h lib/cmake/dnnl/dnnl-config.cmake; do
  [ -f "$prefix/$f" ] || soft_fail "the wheels lack $f"
done
grep -q "DNNL_VERSION_MAJOR 3" "$prefix/include/oneapi/dnnl/dnnl_version.h" || soft_fail "the wheels are not oneDNN v3"
touch "$stamp"
echo "install_onednn: oneDNN $dnnl_version installed in $prefix"
