// The report of design §7 for one call of a compiled program: per kernel,
// the ops it fused, why its neighbours were not fused, the code it ran as
// (backend, ISA, vector width), the thread split, compile time by phase,
// run time and achieved rate against this machine's measured limit; for the
// call, the largest error against the reference interpreter. Shared by
// tj::explain, tensorjit.explain and `tensorjit run --explain[=json]`.
#pragma once

#include <string>
#include <vector>

#include "codegen/executor.h"
#include "ir/graph.h"
#include "ir/schedule.h"
#include "runtime/machine_limits.h"

namespace tj {

struct KernelReport {
  std::string kind;                    // elementwise, reduce, matmul, copy
  std::vector<std::string> ops;        // "%y (div)", in function order
  std::vector<std::string> not_fused;  // "kernel 0: two matmuls"
  KernelRun run;
  int64_t bytes = 0;  // inputs read once and outputs written once
  double flops = 0;   // matmuls' multiply-adds, two each
  std::string limit;  // which limit bounds it: "triad", "read" or "fma"
  double achieved = 0, limit_rate = 0;  // bytes/s or FLOP/s
};

struct Report {
  std::string function, inputs, backend;
  int threads = 0;
  double trace_ms = 0, passes_ms = 0, run_ms = 0;
  std::vector<KernelReport> kernels;
  MemoryPlan memory;
  MachineLimits limits;
  double max_ulps = 0;          // float32 ulps from the interpreter, worst element
  double max_scaled_error = 0;  // |got - want| / max |want| of its result, worst element
};

struct ReportRequest {
  const Program& reference;  // the program as written or traced: the interpreter runs it
  const Function& reference_function;
  const Function& optimized;  // the scheduled function `executable` runs
  const Executable& executable;
  const std::vector<Array>& inputs;
  std::string inputs_text, backend;
  double trace_ms = 0, passes_ms = 0;
};

// Runs the program twice (the first call compiles what is not compiled
// yet) and the interpreter once; measures the machine's limits on first use.
Report make_report(const ReportRequest& request);

std::string report_text(const Report& report);
std::string report_json(const Report& report);
// The short form: the machine's limits, then one line per kernel
// ("kernel 1 (reduce, 6 ops): llvm avx2 x8, 3.100 ms, 10.20 GB/s = 81% of triad"),
// then the error against the interpreter.
std::string report_summary(const Report& report);

}  // namespace tj
