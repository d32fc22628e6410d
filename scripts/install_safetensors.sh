#!/usr/bin/env bash
# Installs Hugging Face's `safetensors` Python package (0.8.0, from PyPI) into the project-local folder build/python,
# for the PyTorch cross-checks: tests/network/torch_network.py writes weights with safetensors.torch.save_file, the
# way a PyTorch user saves a state_dict, to check that ebm loads them. Debian 12 has no package for it, and its
# python3 is externally managed, so it goes into a folder the script puts on sys.path instead of the system.
# Idempotent; a failed download only warns (the one test that needs it then reports itself skipped).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version=0.8.0
target="$repo/build/python"
if [ -f "$target/.ebm-safetensors-$version" ]; then
  echo "install_safetensors: safetensors $version present in $target"
  exit 0
fi
python=""
for candidate in python3 /usr/bin/python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
    python="$candidate"; break
  fi
done
if [ -z "$python" ]; then
  echo "install_safetensors: WARNING: no python with pip found; the safetensors.torch loading test will be skipped" >&2
  exit 0
fi
mkdir -p "$target"
for attempt in 1 2 3; do
  if PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 "$python" -m pip install --quiet --no-deps --only-binary=:all: \
       --upgrade --target "$target" "safetensors==$version" 2>/dev/null; then
    touch "$target/.ebm-safetensors-$version"
    echo "install_safetensors: safetensors $version installed in $target"
    exit 0
  fi
  sleep $((attempt * 5))
done
echo "install_safetensors: WARNING: could not install safetensors $version; the safetensors.torch loading test will be skipped" >&2
