#!/usr/bin/env bash
# mpi_cli_resume: a 2-rank run interrupted after epoch 1 and resumed with 2
# ranks ends with the same model file, byte for byte, as an uninterrupted
# 2-rank run; resuming it on 1 rank is a clear error.
# Usage: resume.sh NABLA_CLI DATA.csv WORK_DIR "MPIRUN COMMAND"
set -euo pipefail
cli=$1 data=$2 dir=$3
read -ra mpirun <<<"$4"
rm -rf "$dir" && mkdir -p "$dir"
common=(--data "$data" --label label)
first=(--model "dense 16 relu | dense 3" --batch 8 --seed 3)
"${mpirun[@]}" -np 2 "$cli" train "${first[@]}" "${common[@]}" --epochs 1 --save "$dir/a.safetensors" >"$dir/a1.out"
"${mpirun[@]}" -np 2 "$cli" train --resume "$dir/a.safetensors.ckpt" "${common[@]}" --epochs 3 \
  --save "$dir/a.safetensors" >"$dir/a2.out"
"${mpirun[@]}" -np 2 "$cli" train "${first[@]}" "${common[@]}" --epochs 3 --save "$dir/b.safetensors" >"$dir/b.out"
cmp "$dir/a.safetensors" "$dir/b.safetensors"
echo "resumed 2-rank run equals the uninterrupted one"
if "$cli" train --resume "$dir/a.safetensors.ckpt" "${common[@]}" --epochs 4 2>"$dir/one.err"; then
  echo "resuming a 2-rank checkpoint on 1 rank should fail" >&2
  exit 1
fi
grep -q "checkpoint was trained on 2 rank(s), this run has 1" "$dir/one.err" || { cat "$dir/one.err" >&2; exit 1; }
echo "resume on 1 rank: $(cat "$dir/one.err")"
