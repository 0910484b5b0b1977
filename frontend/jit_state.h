// The state behind a jitted function: its compiled signatures (an LRU
// cache, safe to use from many threads) and counters. Shared by jit.cpp,
// which compiles and runs, and explain.cpp, which reports.
#pragma once

#include <future>
#include <list>
#include <mutex>
#include <unordered_map>

#include "codegen/executor.h"
#include "ir/graph.h"
#include "tensorjit/jit.h"

namespace tj {

struct CompiledProgram {
  Program traced;     // the graph as traced, the reference for explain
  Program optimized;  // after the pass pipeline; what runs
  std::unique_ptr<Executable> executable;  // runs `optimized`; kernels compile on first use
  std::string signature;
  std::string result_layout;  // what the body said while tracing (see JitCore::Body)
  double trace_ms = 0, passes_ms = 0;
};

// What of an input a compiled program depends on: dtype, shape, and the
// strides unless they are the contiguous ones.
struct InputSignature {
  DType dtype;
  Shape shape;
  Strides strides;  // empty when contiguous
  bool operator==(const InputSignature&) const = default;
};

struct JitState {
  detail::JitCore::Body body;
  JitOptions options;
  std::shared_ptr<BufferPool> buffers;  // null: each compiled program has its own

  std::mutex mutex;
  struct Entry {
    std::shared_future<std::shared_ptr<const CompiledProgram>> ready;
    std::list<std::string>::iterator recency;
  };
  std::unordered_map<std::string, Entry> cache;
  std::list<std::string> recency;  // most recently used first
  JitStats stats;
  std::string last_key;  // of the previous call, to explain the next miss

  // The compiled program for `inputs` (compiling it on a miss, once even
  // when several threads miss together).
  std::shared_ptr<const CompiledProgram> lookup(const std::vector<Tensor>& inputs);
};

// Runs a compiled program on concrete inputs.
std::vector<Tensor> run_compiled(const CompiledProgram& compiled, const std::vector<Tensor>& inputs);

// "f32[4,8] contiguous" or "f32[4,8] strides [1,4]".
std::string describe_input(const InputSignature& s);

}  // namespace tj
