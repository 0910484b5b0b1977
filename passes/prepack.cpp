// Constant-weight pre-packing.
// Needs: fold-transpose (so that the flag, not a transpose, says how the
// weight is read). Guarantees: every tensor constant read by a matmul,
// directly or through views, has Node::prepack set. Reports show the flag.
// The LLVM executor packs such a B into its panel layout once per compiled
// kernel, at its first call (codegen/executor.cpp), and any other B on
// every call.
#include "ir/schedule.h"
#include "passes/passes.h"

namespace tj {

bool prepack_weights(Function& f) {
  bool changed = false;
  for (const auto& node : f.nodes()) {
    if (node->op != Op::matmul) continue;
    for (Node* operand : node->inputs) {
      Node* source = view_source(operand);
      if (source->op != Op::constant || source->constant.symbol.empty() || source->prepack) continue;
      source->prepack = true;
      changed = true;
    }
  }
  return changed;
}

}  // namespace tj
