// Memory planning.
// Needs: the kernel partition (after fusion; without it every compute
// statement is a kernel). Guarantees: every intermediate a kernel writes
// (an output that is not a function result) has a 64-byte-aligned
// Node::arena_offset in one arena, and two buffers overlap only if their
// lifetimes (from the kernel writing them to the last kernel reading them,
// in list_kernels order) do not. A kernel output may also take over the
// buffer of an input that dies in that kernel and that every member reads
// at the very index it writes (same shape, no view): that is in place, and
// safe because a kernel reads an element before it writes the element at
// the same index (a contract of codegen: row kernels finish every pass over
// a row before writing it, and elementwise loops load before they store).
// Placement is greedy: largest buffer first, at the lowest offset that fits
// between live buffers.
#include <algorithm>
#include <map>
#include <set>

#include "ir/schedule.h"
#include "passes/passes.h"

namespace tj {

namespace {

struct Buffer {
  std::vector<Node*> nodes;  // one value, or a chain of values updated in place
  int64_t bytes;
  size_t first, last;  // kernel indices
  int64_t offset = 0;
};

// Whether `kernel` may write `out` over its input `in`: every read of `in`
// in the kernel is a direct operand of an elementwise or reduction member of
// `in`'s shape, and `out` has that shape and dtype.
bool can_write_in_place(const Kernel& kernel, const Node* in, const Node* out) {
  // Not for matmul kernels (a block of rows may repeat its last row's
  // epilogue) nor for several outputs (one output's store could precede
  // another output's load of the same slot).
  if (kernel.kind != KernelKind::elementwise && kernel.kind != KernelKind::reduce) return false;
  if (kernel.outputs.size() > 1 || out->type != in->type) return false;
  for (const Node* member : kernel.nodes)
    for (const Node* operand : member->inputs) {
      if (view_source(const_cast<Node*>(operand)) != in) continue;
      if (operand != in || member->op == Op::matmul || member->inputs[0]->type.shape != in->type.shape) return false;
    }
  return true;
}

bool lifetimes_overlap(const Buffer& a, const Buffer& b) { return a.first <= b.last && b.first <= a.last; }

}  // namespace

bool plan_memory(Function& f) {
  const std::vector<Kernel> kernels = list_kernels(f);
  const std::set<const Node*> results = result_writers(f);
  std::map<const Node*, size_t> buffer_of;
  std::vector<Buffer> buffers;
  // Last kernel reading each value.
  std::map<const Node*, size_t> last_read;
  for (size_t k = 0; k < kernels.size(); ++k)
    for (const Node* in : kernels[k].inputs) last_read[in] = k;
  for (size_t k = 0; k < kernels.size(); ++k) {
    std::set<size_t> taken;  // buffers that an output of this kernel already took over
    for (Node* out : kernels[k].outputs) {
      if (results.contains(out)) continue;
      const int64_t bytes = (numel(out->type.shape) * dtype_size(out->type.dtype) + 63) / 64 * 64;
      size_t chosen = buffers.size();
      for (const Node* in : kernels[k].inputs) {
        auto it = buffer_of.find(in);
        if (it == buffer_of.end() || taken.contains(it->second) || last_read[in] != k || buffers[it->second].nodes.back() != in ||
            !can_write_in_place(kernels[k], in, out))
          continue;
        chosen = it->second;
        break;
      }
      if (chosen == buffers.size()) buffers.push_back({{}, bytes, k, k});
      buffers[chosen].nodes.push_back(out);
      buffer_of[out] = chosen;
      taken.insert(chosen);
    }
    for (const Node* in : kernels[k].inputs)
      if (auto it = buffer_of.find(in); it != buffer_of.end()) buffers[it->second].last = std::max(buffers[it->second].last, k);
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
