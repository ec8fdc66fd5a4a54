#!/usr/bin/env bash
# Installs the Debian 12 packages nabla needs that are missing (and nothing
# else; with everything installed it only asks dpkg, in well under a second).
# (scripts/fuzz.sh adds clang + libclang-rt-14-dev for libFuzzer); dataset-fashion-mnist
# is the real data the command-line test and the main job train on;
# libopenmpi-dev + openmpi-bin give nabla::dist and `mpirun nabla train`;
# libtorch-dev is a peer of bench/nabla_compare, whose correctness check runs
# in ctest: it adds about a minute to a fresh CI run (423 packages, 22 s to
# install from a local mirror; ~20 s to compile the one translation unit
# that includes libtorch's headers). pybind11-dev, python3-dev and
# python3-numpy build the Python module (for Debian's /usr/bin/python3);
# python3-pytest runs its tests and python3-torch is their reference.
# Usage: scripts/deps.sh [extra package ...]
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libxsimd-dev libtbb-dev libhwloc-dev libgtest-dev libgmock-dev libbenchmark-dev
      nlohmann-json3-dev zlib1g-dev libcli11-dev libopenblas-dev libdnnl-dev libtorch-dev
      libopenmpi-dev openmpi-bin dataset-fashion-mnist
      pybind11-dev python3-dev python3-numpy python3-pytest python3-torch "$@")
missing=()
# One dpkg-query for all of them (a package it does not know prints nothing).
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null | awk '/install ok installed/ {print $1}' || true)
for p in "${pkgs[@]}"; do
  grep -qx "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${missing[@]}"
fi
