#!/bin/sh
# Instructions the LLVM backend executes to compile a program's kernels
# (summed over them), by phase, counted by callgrind: unlike milliseconds on a shared
# VM (which swing by a third between minutes), the counts repeat exactly,
# so a change to the emitter or the pass pipeline can be judged by one run.
#   bench/compile_instructions.sh [PROGRAM.tj]   (default: the softmax example)
# Needs valgrind (Debian's `valgrind`; not installed by `make`).
set -eu
cd "$(dirname "$0")/.."
program=${1:-examples/ir/softmax.tj}
command -v valgrind >/dev/null || { echo "compile_instructions: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" build/bin/tensorjit run "$program" --random 1 >/dev/null 2>&1
# Inclusive counts: the whole compile of the kernels, the IR passes, and the
# machine code (LLJIT's lookup compiles and links). The first kernel of a
# process also pays LLVM's one-time set-up.
callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
  awk -v program="$program" '
    /tj::llvm_backend::compile_loop_kernel\(/ && !k { k = $1 }
    /tj::llvm_backend::optimize\(/ && !o { o = $1 }
    /llvm::orc::LLJIT::lookup\(/ && !l { l = $1 }
    END { printf "%s: compile %s instructions (optimize %s, machine code %s)\n", program, k, o, l }'
