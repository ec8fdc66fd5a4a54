#!/usr/bin/env bash
# Installs the Debian 12 packages nabla needs that are missing (and nothing
# else). Usage: scripts/deps.sh [extra package ...]
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libxsimd-dev libtbb-dev libhwloc-dev libgtest-dev libgmock-dev libbenchmark-dev
      nlohmann-json3-dev libopenblas-dev libdnnl-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${missing[@]}"
fi
