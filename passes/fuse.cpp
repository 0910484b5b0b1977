// The fusion passes: elementwise, reduction and matmul-epilogue fusion.
// Needs: canonicalize (reductions keep dims, operands have the result rank).
// Guarantees: Node::kernel partitions the compute statements into kernels
// that fusion_rules.h allows, and the kernels form an acyclic graph. Each
// pass merges a producer's kernel into a consumer's kernel along a data
// edge when the pass's kinds match, the union is legal and no path between
// the two leaves through a third kernel (which would make a cycle).
#include <algorithm>
#include <map>
#include <set>

#include "ir/schedule.h"
#include "passes/fusion_rules.h"
#include "passes/passes.h"

namespace tj {

namespace {

struct GroupTraits {
  bool matmul = false, reduce = false, concat = false;
};

enum class MergeKind { elementwise, reduction, epilogue };

bool eligible(MergeKind kind, const GroupTraits& producer, const GroupTraits& consumer) {
  if (producer.concat || consumer.concat) return false;
  switch (kind) {
    case MergeKind::elementwise:
      return !producer.matmul && !producer.reduce && !consumer.matmul && !consumer.reduce;
    case MergeKind::reduction:
      return !producer.matmul && !consumer.matmul && (producer.reduce || consumer.reduce);
    case MergeKind::epilogue:
      return producer.matmul && !consumer.matmul && !consumer.reduce;
  }
  return false;
}

class Fuser {
 public:
  explicit Fuser(Function& f) : f_(f) {
    int next = 0;
    for (const auto& node : f.nodes())
      if (is_compute(node->op)) next = std::max(next, node->kernel + 1);
    for (const auto& node : f.nodes())
      if (is_compute(node->op) && node->kernel < 0) node->kernel = next++;
  }

  bool run(MergeKind kind) {
    bool changed = false;
    while (merge_one(kind)) changed = true;
    return changed;
  }

 private:
  // Kernel id -> members in function order, traits, and successor kernels.
  void analyze() {
    members_.clear();
    traits_.clear();
    successors_.clear();
    edges_.clear();
    for (const auto& node : f_.nodes()) {
      if (!is_compute(node->op)) continue;
      const int k = node->kernel;
      members_[k].push_back(node.get());
      GroupTraits& t = traits_[k];
      t.matmul |= node->op == Op::matmul;
      t.reduce |= is_reduce(node->op);
      t.concat |= node->op == Op::concat;
      for (Node* operand : node->inputs) {
        const Node* source = view_source(operand);
        if (!is_compute(source->op) || source->kernel == k) continue;
        if (successors_[source->kernel].insert(k).second) edges_.emplace_back(source->kernel, k);
      }
    }
  }

  // Whether `to` is reachable from `from` other than by the direct edge.
  bool reachable_indirectly(int from, int to) {
    std::vector<int> stack;
    std::set<int> seen;
    for (int s : successors_[from])
      if (s != to) stack.push_back(s);
    while (!stack.empty()) {
      const int k = stack.back();
      stack.pop_back();
      if (k == to) return true;
      if (!seen.insert(k).second) continue;
      for (int s : successors_[k]) stack.push_back(s);
    }
    return false;
  }

  bool merge_one(MergeKind kind) {
    analyze();
    for (auto [producer, consumer] : edges_) {
      if (!eligible(kind, traits_[producer], traits_[consumer])) continue;
      std::vector<Node*> united = members_[producer];
      united.insert(united.end(), members_[consumer].begin(), members_[consumer].end());
      std::sort(united.begin(), united.end(), [&](Node* a, Node* b) { return position(a) < position(b); });
      if (!why_not_one_kernel(united).empty() || reachable_indirectly(producer, consumer)) continue;
      for (Node* n : members_[consumer]) n->kernel = producer;
      return true;
    }
    return false;
  }

  size_t position(const Node* n) {
    if (positions_.empty())
      for (size_t i = 0; i < f_.nodes().size(); ++i) positions_[f_.nodes()[i].get()] = i;
    return positions_.at(n);
  }

  Function& f_;
  std::map<int, std::vector<Node*>> members_;
  std::map<int, GroupTraits> traits_;
  std::map<int, std::set<int>> successors_;
  std::vector<std::pair<int, int>> edges_;
  std::map<const Node*, size_t> positions_;
};

}  // namespace

bool fuse_elementwise(Function& f) { return Fuser(f).run(MergeKind::elementwise); }
bool fuse_reductions(Function& f) { return Fuser(f).run(MergeKind::reduction); }
bool fuse_epilogues(Function& f) { return Fuser(f).run(MergeKind::epilogue); }

}  // namespace tj
