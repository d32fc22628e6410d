#!/usr/bin/env bash
# Installs what ebm needs from Debian's packages; skips what is already there so reruns are quick.
# Usage: scripts/setup.sh [--with-torch] [--with-fuzz]   (--with-torch adds Debian's python3-torch for cross-checks;
#   --with-fuzz adds clang with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev), LLVM's OpenMP for clang
#   and llvm-symbolizer, for scripts/fuzz.sh)
set -euo pipefail
packages=(cmake g++ make pkg-config libeigen3-dev doctest-dev libbenchmark-dev librandom123-dev libcli11-dev
          nlohmann-json3-dev libpng-dev zlib1g-dev libplplot-dev plplot-driver-cairo dataset-fashion-mnist)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch python3-numpy) ;;
    --with-fuzz) packages+=(clang libclang-rt-14-dev libomp-dev llvm) ;;
    *) echo "scripts/setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# oneDNN v3 (not in Debian 12) comes from PyPI into a project-local prefix.
if [ -x "$(dirname "$0")/install_onednn.sh" ]; then "$(dirname "$0")/install_onednn.sh"; fi
# PyTorch's safetensors package (PyPI) for the cross-checks, beside torch.
for arg in "$@"; do
  if [ "$arg" = --with-torch ]; then "$(dirname "$0")/install_safetensors.sh"; fi
done
echo "setup: dependencies present"
