#!/bin/sh
# The `make demo` story: each bundled IR program is checked, optimized into
# fused kernels (tensorjit opt), run with random inputs, and timed eagerly
# (one kernel per op) against fused, both as LLVM machine code where the
# kernel is generated (matmul kernels still run on the interpreter).
set -eu
TJ=${1:-build/bin/tensorjit}
cd "$(dirname "$0")/.."

for prog in examples/ir/softmax.tj examples/ir/layernorm.tj examples/ir/stats.tj; do
  echo "=== $prog"
  "$TJ" check "$prog" --print
  echo "--- kernels after the pass pipeline"
  "$TJ" opt "$prog" | grep '^#'
  echo "--- eager vs fused (median of 10 calls)"
  "$TJ" run "$prog" --random 0 --bench 10 | sed -n '1,4p'
  echo
done
echo "=== results of examples/ir/stats.tj (random inputs, seed 0)"
"$TJ" run examples/ir/stats.tj --random 0
