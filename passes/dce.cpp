// Dead-code elimination.
// Needs: a verified function. Guarantees: every statement left is reachable
// from a result; parameters are kept (they are the function's signature).
#include <set>

#include "passes/passes.h"

namespace tj {

bool eliminate_dead_code(Function& f) {
  std::set<const Node*> live(f.results().begin(), f.results().end());
  for (auto it = f.nodes().rbegin(); it != f.nodes().rend(); ++it)
    if (live.contains(it->get()))
      for (const Node* input : (*it)->inputs) live.insert(input);
  const size_t before = f.nodes().size();
  f.erase_if([&](const Node* n) { return n->op != Op::param && !live.contains(n); });
  return f.nodes().size() != before;
}

}  // namespace tj
