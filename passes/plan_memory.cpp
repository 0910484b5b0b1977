// Memory planning.
// Needs: the kernel partition (after fusion; without it every compute
// statement is a kernel). Guarantees: every intermediate a kernel writes
// (an output that is not a function result) has a 64-byte-aligned
// Node::arena_offset in one arena, and two buffers overlap only if their
// lifetimes (from the kernel writing them to the last kernel reading them,
// in list_kernels order) do not. Placement is greedy: largest buffer first,
// at the lowest offset that fits between live buffers.
#include <algorithm>
#include <map>
#include <set>

#include "ir/schedule.h"
#include "passes/passes.h"

namespace tj {

namespace {

struct Buffer {
  Node* node;
  int64_t bytes;
  size_t first, last;  // kernel indices
  int64_t offset = 0;
};

bool lifetimes_overlap(const Buffer& a, const Buffer& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

bool plan_memory(Function& f) {
  const std::vector<Kernel> kernels = list_kernels(f);
  const std::set<const Node*> results = result_writers(f);
  std::map<const Node*, size_t> buffer_of;
  std::vector<Buffer> buffers;
  for (size_t k = 0; k < kernels.size(); ++k) {
    for (Node* out : kernels[k].outputs) {
      if (results.contains(out)) continue;
      const int64_t bytes = (numel(out->type.shape) * dtype_size(out->type.dtype) + 63) / 64 * 64;
      buffer_of[out] = buffers.size();
      buffers.push_back({out, bytes, k, k});
    }
    for (const Node* in : kernels[k].inputs)
      if (auto it = buffer_of.find(in); it != buffer_of.end()) buffers[it->second].last = k;
  }

  std::vector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    Buffer& buffer = buffers[i];
    // Candidate offsets: 0 and the end of every placed buffer that is live at the same time.
    std::vector<int64_t> candidates = {0};
    for (size_t j : placed)
      if (lifetimes_overlap(buffer, buffers[j])) candidates.push_back(buffers[j].offset + buffers[j].bytes);
    std::sort(candidates.begin(), candidates.end());
    for (int64_t offset : candidates) {
      const bool fits = std::none_of(placed.begin(), placed.end(), [&](size_t j) {
        const Buffer& other = buffers[j];
        return lifetimes_overlap(buffer, other) && offset < other.offset + other.bytes && other.offset < offset + buffer.bytes;
      });
      if (fits) {
        buffer.offset = offset;
        break;
      }
    }
    placed.push_back(i);
  }

  bool changed = false;
  for (const auto& node : f.nodes()) {
    int64_t offset = -1;
    if (auto it = buffer_of.find(node.get()); it != buffer_of.end()) offset = buffers[it->second].offset;
    changed |= node->arena_offset != offset;
    node->arena_offset = offset;
  }
  return changed;
}

}  // namespace tj
