// The pass registry and the pipeline, read top to bottom.
#include "passes/pipeline.h"

#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "ir/error.h"
#include "ir/printer.h"
#include "ir/schedule.h"
#include "ir/verifier.h"
#include "passes/fusion_rules.h"
#include "passes/passes.h"

namespace tj {

namespace {

constexpr PassInfo kPasses[] = {
    {"dce", eliminate_dead_code},
    {"cse", eliminate_common_subexpressions},
    {"simplify", simplify},
    {"canonicalize", canonicalize},
    {"fold-transpose", fold_transpose},
    {"split-reduce", split_reductions},
    {"fuse-elementwise", fuse_elementwise},
    {"fuse-reduce", fuse_reductions},
    {"fuse-epilogue", fuse_epilogues},
    {"prepack", prepack_weights},
    {"plan-memory", plan_memory},
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// TJ_PRINT_AFTER takes a pass name, "all", or "fusion" for the three fuse-* passes.
bool should_print(const std::string& print_after, std::string_view pass) {
  return print_after == "all" || print_after == pass || (print_after == "fusion" && pass.starts_with("fuse-"));
}

}  // namespace

std::span<const PassInfo> all_passes() { return kPasses; }

const PassInfo* find_pass(std::string_view name) {
  for (const PassInfo& pass : kPasses)
    if (pass.name == name) return &pass;
  return nullptr;
}

std::vector<std::string> pipeline_passes(const PipelineOptions& options) {
  std::vector<std::string> passes = {
      "canonicalize",    // shapes first: the rules below see keepdim reductions and rank-aligned operands
      "simplify",        // constant folding and algebra
      "cse",             // after simplify, which exposes equal expressions
      "fold-transpose",  // transposes into matmul flags
      "split-reduce",    // full reductions of large values into parallel rows
      "canonicalize",    // collapse views that the rewrites above left behind, push reshapes to the loads
      "dce",
  };
  if (options.fuse) {
    passes.insert(passes.end(), {
        "fuse-elementwise",  // elementwise chains first: they become the units the next two move
        "fuse-reduce",       // producers into reductions, row kernels
        "fuse-epilogue",     // what is left after a matmul
    });
  }
  passes.insert(passes.end(), {"prepack", "plan-memory"});
  return passes;
}

void run_passes(Program& program, const std::vector<std::string>& names, const PipelineOptions& options) {
  std::vector<const PassInfo*> passes;
  for (const std::string& name : names) {
    const PassInfo* pass = find_pass(name);
    if (!pass) {
      std::string known;
      for (const PassInfo& p : kPasses) known += (known.empty() ? "" : ", ") + std::string(p.name);
      fail("unknown pass '{}' (passes: {})", name, known);
    }
    passes.push_back(pass);
  }
  const std::string print_after = env("TJ_PRINT_AFTER");
  const bool time_passes = env("TJ_TIME_PASSES") == "1";
  for (Function& f : program.functions) {
    for (const PassInfo* pass : passes) {
      const auto start = std::chrono::steady_clock::now();
      const bool changed = pass->run(f);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (time_passes) fmt::print(stderr, "# pass {:<16} @{}: {:8.3f} ms{}\n", pass->name, f.name(), ms, changed ? "" : " (no change)");
      if (changed && should_print(print_after, pass->name))
        fmt::print(stderr, "# after {} @{}\n{}{}", pass->name, f.name(), print_function(f), print_schedule(f));
      if (options.verify_each) {
        try {
          verify(f);
          verify_kernels(f);
        } catch (const Error& e) {
          fail("after pass {}: {}", pass->name, e.what());
        }
      }
    }
  }
}

void run_pipeline(Program& program, const PipelineOptions& options) {
  run_passes(program, pipeline_passes(options), options);
}

}  // namespace tj
