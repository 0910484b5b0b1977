#!/bin/sh
# The `make demo` story: each program of examples/demo/ (the workloads of
# bench/, from primitive ops) runs eagerly, one LLVM kernel per op (jit
# without fusion: with the memory plan), and
# fused, as the pass pipeline groups it; both are timed (median of 10 calls
# after a first one that compiles) and every fused kernel says in one line
# what it fused and how close it came to this machine's limits, measured a
# moment before. The results are checked against the reference interpreter.
set -eu
TJ=${1:-build/bin/tensorjit}
cd "$(dirname "$0")/.."

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "tensorjit demo on ${cpu:-an unknown CPU}, $(nproc) cores"
echo "eager = one kernel per op (jit without fusion); fused = the kernels the passes make; both are machine code."
echo "compile = the pass pipeline plus LLVM compiling the fused kernels (they compile at the first call)."
for name in gelu bias_relu softmax layernorm attention mlp; do
  prog=examples/demo/$name.tj
  echo
  echo "== $name: $(sed -n '1s/^# //p' "$prog")"
  "$TJ" run "$prog" --random 0 --bench 10 --explain=short | sed 's/^/   /'
done
echo
echo "More: $TJ run PROG.tj --random 0 --explain   (the full report; --explain=json for tools)"
echo "      TJ_DUMP=asm $TJ run PROG.tj --random 0  (each kernel's assembly)"
if [ -d build/python/tensorjit ]; then
  echo
  echo "== the same from Python, against torch eager: examples/python/mlp.py"
  PYTHONPATH=build/python /usr/bin/python3 examples/python/mlp.py | sed 's/^/   /'
fi
