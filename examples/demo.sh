#!/bin/sh
# The `make demo` story: check and run the bundled IR programs through the
# reference interpreter, showing each program's IR and its results.
# Later issues turn this into the fused-vs-eager report.
set -eu
TJ=${1:-build/bin/tensorjit}
cd "$(dirname "$0")/.."

for prog in examples/ir/softmax.tj examples/ir/stats.tj; do
  echo "=== $prog"
  "$TJ" check "$prog" --print
  echo "--- results (interpreter, random inputs, seed 0)"
  "$TJ" run "$prog" --random 0 --backend interp
  echo
done
for prog in examples/ir/*.tj; do
  "$TJ" check "$prog"
done
