// Runs a scheduled function kernel by kernel, the way compiled code runs:
// values computed inside a kernel are gone when it ends, only kernel outputs
// survive, and intermediates live at their planned offsets in one arena (so
// a fusion or planning bug shows as an error or a wrong result). Each kernel
// runs as machine code from the chosen backend when codegen supports it, and
// on the reference interpreter otherwise; a profiled run says which and why.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/array.h"
#include "ir/graph.h"

namespace tj {

class BufferPool;

enum class Backend { interp, llvm };

// How one kernel ran in a profiled call: what explain reports of it.
struct KernelRun {
  std::string code;  // backend and ISA, or why it was interpreted
  bool native = false;
  double lower_ms = 0, emit_ms = 0, optimize_ms = 0, machine_code_ms = 0;  // compile phases (0 when interpreted)
  double run_ms = 0;
  int64_t work_items = 0;  // rows, or elements, that the threads split
  int64_t chunk = 0;       // items per chunk at least
  bool over_elements = false;
};

// "auto" and "llvm" -> llvm, "interp" -> interp; throws tj::Error for a
// backend that is unknown or not built ("xbyak").
Backend parse_backend(const std::string& name);

class Executable {
 public:
  // `program` must outlive the executable; its schedule annotations are read as they are.
  // Results and arenas come from `buffers`, or from a pool of the executable's own.
  Executable(const Program& program, const Function& function, Backend backend, std::shared_ptr<BufferPool> buffers = nullptr);
  ~Executable();

  // Thread-safe; kernels are compiled on first use for the layouts of the inputs.
  std::vector<Array> run(const std::vector<Array>& inputs) const;
  // The same, timing each kernel into `profile` (one entry per kernel).
  std::vector<Array> run(const std::vector<Array>& inputs, std::vector<KernelRun>& profile) const;

  // Milliseconds spent so far lowering and compiling kernels.
  double compile_ms() const;

  struct Impl;  // also read by the runner of one call

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tj
