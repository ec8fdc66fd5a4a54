#!/usr/bin/env bash
# The layering of DESIGN.md, checked on the #include lines: each layer
# includes only itself and the layers below it; tools/ and bench/ include the
# public headers, the internal headers listed in src/INTERNAL_HEADERS (the
# nabla_internal target), and their own; bench/ never includes tools/.
# Run by ctest (test "layering"); prints every violation and exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."

# layer -> the nabla/ and src-relative prefixes it may include.
declare -A allowed=(
  [runtime]="nabla/error.hpp nabla/version.hpp nabla/runtime/ runtime/"
  [kernels]="nabla/error.hpp nabla/runtime/ nabla/kernels/ kernels/"
  [tensor]="nabla/error.hpp nabla/runtime/ nabla/kernels/ nabla/tensor.hpp tensor/"
  [nn]="nabla/error.hpp nabla/runtime/ nabla/kernels/ nabla/tensor.hpp nabla/nn/ nn/"
  [data]="nabla/error.hpp nabla/runtime/ nabla/kernels/ nabla/tensor.hpp nabla/data/ data/"
  [dist]="nabla/error.hpp nabla/runtime/ nabla/kernels/ nabla/tensor.hpp nabla/nn/ nabla/data/ nabla/dist/ dist/"
)
declare -A dirs=(
  [runtime]="include/nabla/runtime src/runtime"
  [kernels]="include/nabla/kernels src/kernels"
  [tensor]="include/nabla/tensor.hpp src/tensor"
  [nn]="include/nabla/nn src/nn"
  [data]="include/nabla/data src/data"
  [dist]="include/nabla/dist src/dist"
)

bad=0
report() {
  echo "layering: $1"
  bad=1
}

# Quoted includes of a file (system headers in <> are not ours).
quoted() { grep -ho '^#include "[^"]*"' "$1" | sed 's/#include "//; s/"$//' || true; }

for layer in "${!dirs[@]}"; do
  for f in $(find ${dirs[$layer]} -type f \( -name '*.hpp' -o -name '*.cpp' \)); do
    for inc in $(quoted "$f"); do
      ok=0
      for p in ${allowed[$layer]}; do
        [[ "$inc" == "$p"* ]] && ok=1
      done
      # A same-folder include ("gemm_internal.hpp" beside it) is the file's own family.
      [[ "$inc" != */* && -e "$(dirname "$f")/$inc" ]] && ok=1
      ((ok)) || report "$f ($layer) includes \"$inc\""
    done
  done
done

# tools/ and bench/: public headers, the listed internal headers, their own files.
mapfile -t internal < <(grep -v '^#' src/INTERNAL_HEADERS | sed '/^$/d')
for top in tools bench; do
  for f in $(find "$top" -type f \( -name '*.hpp' -o -name '*.cpp' \)); do
    for inc in $(quoted "$f"); do
      [[ "$inc" == nabla/* ]] && continue
      listed=0
      for h in "${internal[@]}"; do [[ "$inc" == "$h" ]] && listed=1; done
      ((listed)) && continue
      here="$(dirname "$f")"
      if [[ -e "$here/$inc" || -e "$top/$inc" ]]; then
        continue  # its own header
      fi
      if [[ "$top" == bench && -e "tools/$inc" ]]; then
        report "$f includes the command line's \"$inc\" (bench must not include tools/)"
      else
        report "$f includes \"$inc\", neither public nor listed in src/INTERNAL_HEADERS"
      fi
    done
  done
done

if ((bad)); then exit 1; fi
echo "layering: ok"
