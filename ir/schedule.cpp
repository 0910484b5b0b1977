// Kernels derived from the fusion annotations, and their printed form.
#include "ir/schedule.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/printer.h"

namespace tj {

namespace {

constexpr std::string_view kKindNames[] = {"elementwise", "reduce", "matmul", "copy"};

int64_t bytes_of(const Node* node) { return numel(node->type.shape) * dtype_size(node->type.dtype); }

std::string names(const std::vector<Node*>& nodes) {
  std::vector<std::string> out;
  for (const Node* n : nodes) out.push_back("%" + n->name);
  return fmt::format("{}", fmt::join(out, " "));
}

}  // namespace

bool is_view(Op op) {
  return op == Op::reshape || op == Op::transpose || op == Op::broadcast || op == Op::slice;
}

bool is_compute(Op op) { return op_info(op).op_class != OpClass::leaf && !is_view(op); }

Node* view_source(Node* value) {
  while (is_view(value->op)) value = value->inputs[0];
  return value;
}

Node* reshaped_result_source(Node* result) {
  Node* n = result;
  while (n->op == Op::reshape) n = n->inputs[0];
  return n != result && is_compute(n->op) ? n : nullptr;
}

std::set<const Node*> result_writers(const Function& f) {
  std::set<const Node*> writers;
  for (Node* r : f.results()) {
    writers.insert(r);  // computed, or copied out by a copy kernel
    if (Node* source = reshaped_result_source(r)) writers.insert(source);
  }
  return writers;
}

std::vector<Kernel> list_kernels(const Function& f) {
  // Group members by kernel id; unannotated compute nodes get their own group.
  std::map<int, size_t> index_of_id;
  std::vector<Kernel> kernels;
  std::map<const Node*, size_t> kernel_of;
  for (const auto& node : f.nodes()) {
    if (!is_compute(node->op)) continue;
    size_t index;
    if (node->kernel >= 0 && index_of_id.contains(node->kernel)) {
      index = index_of_id[node->kernel];
    } else {
      index = kernels.size();
      kernels.emplace_back();
      if (node->kernel >= 0) index_of_id[node->kernel] = index;
    }
    kernels[index].nodes.push_back(node.get());
    kernel_of[node.get()] = index;
  }
  const std::set<const Node*> results(f.results().begin(), f.results().end());
  const auto users = compute_users(f);
  // Results that are views or constants are copied out by a kernel of their
  // own. A parameter returned as it is is the caller's own array, passed back
  // without a copy (so a jitted identity shares memory, as eager code would).
  for (Node* r : f.results()) {
    if (is_compute(r->op) || r->op == Op::param || kernel_of.contains(r) || reshaped_result_source(r)) continue;
    kernel_of[r] = kernels.size();
    kernels.push_back(Kernel{KernelKind::copy, {r}, {}, {}});
  }

  for (size_t k = 0; k < kernels.size(); ++k) {
    Kernel& kernel = kernels[k];
    std::set<Node*> inputs;
    for (Node* n : kernel.nodes) {
      if (n->op == Op::matmul) kernel.kind = KernelKind::matmul;
      else if (is_reduce(n->op) && kernel.kind != KernelKind::matmul) kernel.kind = KernelKind::reduce;
      else if (n->op == Op::concat) kernel.kind = KernelKind::copy;
      const std::vector<Node*> reads = kernel.kind == KernelKind::copy && !is_compute(n->op) ? std::vector<Node*>{n} : n->inputs;
      for (Node* input : reads) {
        Node* source = view_source(input);
        auto it = kernel_of.find(source);
        if (it == kernel_of.end() || it->second != k || source == n) inputs.insert(source);
      }
    }
    for (Node* input : inputs) kernel.inputs.push_back(input);
    std::sort(kernel.inputs.begin(), kernel.inputs.end(), [&](Node* a, Node* b) { return a->name < b->name; });
    for (Node* n : kernel.nodes) {
      bool read_outside = results.contains(n);
      // A use through views counts as a use of n.
      std::vector<Node*> pending = users.contains(n) ? users.at(n) : std::vector<Node*>{};
      while (!pending.empty() && !read_outside) {
        Node* user = pending.back();
        pending.pop_back();
        if (is_view(user->op)) {
          if (results.contains(user)) read_outside = true;
          if (users.contains(user)) pending.insert(pending.end(), users.at(user).begin(), users.at(user).end());
        } else if (!kernel_of.contains(user) || kernel_of.at(user) != k) {
          read_outside = true;
        }
      }
      if (read_outside) kernel.outputs.push_back(n);
    }
  }

  // Order kernels so that producers come first (Kahn's algorithm, stable).
  std::vector<std::set<size_t>> preds(kernels.size());
  for (size_t k = 0; k < kernels.size(); ++k)
    for (Node* input : kernels[k].inputs)
      if (auto it = kernel_of.find(input); it != kernel_of.end() && it->second != k) preds[k].insert(it->second);
  std::vector<Kernel> ordered;
  std::vector<bool> done(kernels.size(), false);
  while (ordered.size() < kernels.size()) {
    bool progressed = false;
    for (size_t k = 0; k < kernels.size(); ++k) {
      if (done[k] || !std::all_of(preds[k].begin(), preds[k].end(), [&](size_t p) { return done[p]; })) continue;
      done[k] = true;
      ordered.push_back(std::move(kernels[k]));
      progressed = true;
      break;
    }
    if (!progressed) break;  // a cycle: the verifier of fusion reports it
  }
  return ordered;
}

MemoryPlan memory_plan(const Function& f) {
  MemoryPlan plan;
  const std::set<const Node*> results = result_writers(f);
  for (const Kernel& k : list_kernels(f))
    for (const Node* out : k.outputs) {
      if (results.contains(out)) {
        plan.output_bytes += bytes_of(out);
        continue;
      }
      if (out->arena_offset < 0) continue;
      ++plan.buffers;
      plan.unshared_bytes += (bytes_of(out) + 63) / 64 * 64;
      plan.arena_bytes = std::max(plan.arena_bytes, out->arena_offset + (bytes_of(out) + 63) / 64 * 64);
    }
  return plan;
}

std::string print_schedule(const Function& f) {
  std::string text;
  const std::vector<Kernel> kernels = list_kernels(f);
  for (size_t i = 0; i < kernels.size(); ++i) {
    const Kernel& k = kernels[i];
    text += fmt::format("# kernel {} @{} ({}): {}\n", i, f.name(), kKindNames[static_cast<int>(k.kind)], names(k.nodes));
    text += fmt::format("#   inputs: {}\n", k.inputs.empty() ? "none" : names(k.inputs));
    std::vector<std::string> outs;
    for (const Node* out : k.outputs) {
      std::string entry = fmt::format("%{}: {}", out->name, type_to_string(out->type));
      if (out->arena_offset >= 0) entry += fmt::format(" @arena+{}", out->arena_offset);
      outs.push_back(entry);
    }
    text += fmt::format("#   outputs: {}\n", fmt::join(outs, ", "));
    std::vector<Node*> packed;
    for (Node* input : k.inputs)
      if (input->prepack) packed.push_back(input);
    if (!packed.empty()) text += fmt::format("#   prepacked: {}\n", names(packed));
  }
  const MemoryPlan plan = memory_plan(f);
  if (plan.buffers > 0)
    text += fmt::format("# memory @{}: arena {} bytes for {} intermediates ({} bytes unshared), results {} bytes\n",
                        f.name(), plan.arena_bytes, plan.buffers, plan.unshared_bytes, plan.output_bytes);
  return text;
}

std::string print_optimized(const Program& program) {
  std::string text = print_program(program);
  size_t kernels = 0;
  for (const Function& f : program.functions) {
    text += print_schedule(f);
    kernels += list_kernels(f).size();
  }
  return text + fmt::format("# kernels: {}\n", kernels);
}

}  // namespace tj
