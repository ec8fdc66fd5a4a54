#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs what is missing
# (Fashion-MNIST included), builds, and trains the default CNN (preset `cnn`)
# on Fashion-MNIST for 5 epochs at 2 threads, leaving the model, a CSV log
# and an SVG training curve in build/main-job/. Extra arguments go to
# `nabla train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j"$(nproc)" --target nabla_cli
out=build/main-job
mkdir -p "$out"
./build/release/tools/nabla info
./build/release/tools/nabla train --model cnn --epochs 5 --threads 2 \
  --save "$out/model.safetensors" --log "$out/log.csv" --plot "$out/curve.svg" "$@"
