// The pass pipeline: the passes in order, and the instrumentation every run
// gets (TJ_PRINT_AFTER=<pass>|all prints the function after a pass that
// changed it, TJ_TIME_PASSES=1 prints each pass's time, both on stderr).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace tj {

struct PassInfo {
  std::string_view name;  // as in `tensorjit opt --passes=...`
  bool (*run)(Function&);
};

// Every pass, by name.
std::span<const PassInfo> all_passes();
const PassInfo* find_pass(std::string_view name);  // nullptr if unknown

struct PipelineOptions {
  bool fuse = true;            // false: the graph passes only, every op its own kernel (`--no-fuse`, eager)
  bool verify_each = false;    // run the verifier after every pass (tests turn it on)
};

// The default pipeline: the names it runs, in order.
std::vector<std::string> pipeline_passes(const PipelineOptions& options);

// Runs `passes` (names) on every function of `program`; throws tj::Error for
// an unknown name or a verifier failure (naming the pass).
void run_passes(Program& program, const std::vector<std::string>& passes, const PipelineOptions& options = {});
void run_pipeline(Program& program, const PipelineOptions& options = {});

}  // namespace tj
