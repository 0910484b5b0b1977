// Software pipelining of a vector loop whose body is one long dependency
// chain (GELU's tanh, ~75 cycles from load to store). The core overlaps
// consecutive vectors only as far as its schedulers reach: instructions that
// wait on the chain fill them, and the loop runs at the chain's latency over
// the few vectors in flight, not at the throughput of its ports. Split into
// stages by estimated latency, each trip runs the last stage of an old
// vector, ..., the first stage of a new one: every stage's inputs were
// computed a trip or more earlier, so the instructions waiting at any time
// are one stage's, not the whole chain's. Internal to the LLVM backend.
#pragma once

#include <functional>
#include <vector>

#include <llvm/IR/IRBuilder.h>

namespace tj::llvm_backend {

// One vector's work, emitted from a block of its own (in the function, no
// predecessors) with `index` a placeholder for the vector's first element:
// its loads and math, and `results`, the values that the loop stores (the
// stores themselves are the caller's, emitted by `store` below). Math may
// branch (exp's cold path); such a body is not pipelined.
struct LoopBody {
  llvm::BasicBlock* block = nullptr;
  llvm::PHINode* index = nullptr;
  std::vector<llvm::Value*> results;
};

// How many stages `body` splits into: its critical path (estimated
// latencies) over kStageCycles, at most `at_most` and what a register file
// of `vector_registers` holds (4 stages with 16, 5 with 32). 1 (no
// pipelining) when the path is short, or a memory read cannot be in the
// first stage, or the body branches: bodies with exp's cold branch (exp,
// sigmoid, softmax's exp(x - max)) ran 5-15% slower pipelined than as the
// plain loop, in cache and streaming, at every stage count from 2 to 4.
int pipeline_stages(const LoopBody& body, int at_most, int vector_registers);

// Emits at b's insert point, for every whole vector j of [from, to) (steps
// of `lanes`), body's computation in `stages` stages (as pipeline_stages
// returned) and store(j, results) in the last, then deletes the body's
// block. Returns where the whole vectors end (a masked tail's start). Each
// stage's vector index is clamped into the range, so the trips that fill
// and drain the pipeline read valid memory; only trips whose last stage
// holds a real vector store.
llvm::Value* emit_pipelined_loop(llvm::IRBuilder<>& b, LoopBody body, int stages, llvm::Value* from, llvm::Value* to, int lanes,
                                 const std::function<void(llvm::Value*, const std::vector<llvm::Value*>&)>& store);

// Deletes a body that is not pipelined, with any blocks its math branched to.
void discard_loop_body(LoopBody& body);

}  // namespace tj::llvm_backend
