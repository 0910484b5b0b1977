// tj::explain: the per-kernel report of design §7 for one call of a jitted
// function. Parts that need the code generators or the benchmarks (ISA,
// vector width, machine limits) say so instead of inventing numbers.
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "frontend/jit_state.h"
#include "ir/interpreter.h"
#include "ir/schedule.h"
#include "passes/fusion_rules.h"
#include "runtime/parallel.h"

namespace tj {

namespace {

using Clock = std::chrono::steady_clock;

std::string names(const std::vector<Node*>& nodes) {
  std::vector<std::string> out;
  for (const Node* n : nodes) out.push_back(fmt::format("%{} ({})", n->name, op_name(n->op)));
  return fmt::format("{}", fmt::join(out, ", "));
}

int64_t bytes_of(const Node* n) { return numel(n->type.shape) * dtype_size(n->type.dtype); }

// Why kernel `k` and each kernel it reads from are separate kernels.
std::vector<std::string> unfused_neighbours(const std::vector<Kernel>& kernels, size_t k) {
  std::map<const Node*, size_t> kernel_of;
  for (size_t i = 0; i < kernels.size(); ++i)
    for (const Node* n : kernels[i].nodes) kernel_of[n] = i;
  std::vector<std::string> reasons;
  std::set<size_t> seen;
  for (const Node* input : kernels[k].inputs) {
    auto it = kernel_of.find(input);
    if (it == kernel_of.end() || it->second == k || !seen.insert(it->second).second) continue;
    const Kernel& producer = kernels[it->second];
    if (producer.kind == KernelKind::copy || kernels[k].kind == KernelKind::copy) {
      reasons.push_back(fmt::format("kernel {}: a copy kernel is never fused", it->second));
      continue;
    }
    std::vector<Node*> united = producer.nodes;
    united.insert(united.end(), kernels[k].nodes.begin(), kernels[k].nodes.end());
    std::string why = why_not_one_kernel(united);
    if (why.empty()) why = "fusing them would close a cycle through another kernel";
    reasons.push_back(fmt::format("kernel {}: {}", it->second, why));
  }
  return reasons;
}

double max_relative_error(const Array& reference, const Array& got) {
  const Array r = reference.contiguous(), g = got.contiguous();
  double worst = 0;
  for (int64_t i = 0; i < r.numel(); ++i) {
    const double a = read_double(r.at(r.offset() + i), r.dtype()), b = read_double(g.at(g.offset() + i), g.dtype());
    if (std::isnan(a) && std::isnan(b)) continue;
    if (a == b) continue;
    worst = std::max(worst, std::fabs(a - b) / std::max(std::fabs(a), 1e-30));
  }
  return worst;
}

}  // namespace

namespace detail {

std::string JitCore::explain(const std::vector<Tensor>& inputs) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined() || inputs[i].is_traced()) fail("explain: input {} must be a concrete tensor", i);
  const std::shared_ptr<const CompiledProgram> compiled = state_->lookup(inputs);
  const Function& f = compiled->optimized.functions.front();
  const std::vector<Kernel> kernels = list_kernels(f);

  const auto start = Clock::now();
  const std::vector<Tensor> outputs = run_compiled(*compiled, inputs);
  const double run_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::vector<Array> arrays;
  for (const Tensor& t : inputs) arrays.push_back(t.array());
  const std::vector<Array> reference = interpret(compiled->traced, compiled->traced.functions.front(), arrays);

  std::string text = fmt::format("tensorjit explain: {} kernel{} for inputs ({})\n", kernels.size(), kernels.size() == 1 ? "" : "s",
                                 compiled->signature);
  text += fmt::format("backend: {}, {} threads\n", state_->options.backend, num_threads());
  text += fmt::format("compile: {:.3f} ms (trace {:.3f} ms, passes {:.3f} ms; kernels compile at their first run)\n",
                      compiled->trace_ms + compiled->passes_ms, compiled->trace_ms, compiled->passes_ms);
  const std::vector<std::string> code = compiled->executable->describe();
  int64_t total_bytes = 0;
  for (size_t k = 0; k < kernels.size(); ++k) {
    const Kernel& kernel = kernels[k];
    int64_t bytes = 0;
    for (const Node* n : kernel.inputs) bytes += bytes_of(n);
    for (const Node* n : kernel.outputs) bytes += bytes_of(n);
    total_bytes += bytes;
    constexpr std::string_view kKinds[] = {"elementwise", "reduce", "matmul", "copy"};
    text += fmt::format("kernel {} ({}): fuses {}\n", k, kKinds[static_cast<int>(kernel.kind)], names(kernel.nodes));
    text += fmt::format("  code: {}\n", code[k]);
    text += fmt::format("  moves {} bytes; threads split its rows (or elements) into chunks of about 32K elements\n", bytes);
    for (const std::string& reason : unfused_neighbours(kernels, k)) text += "  not fused with " + reason + "\n";
  }
  const MemoryPlan plan = memory_plan(f);
  text += fmt::format("memory: arena {} bytes for {} intermediates ({} unshared)\n", plan.arena_bytes, plan.buffers, plan.unshared_bytes);
  text += fmt::format("run: {:.3f} ms, {:.3f} GB/s achieved; machine limit: not measured yet (bench/ lands later)\n", run_ms,
                      run_ms > 0 ? static_cast<double>(total_bytes) / (run_ms * 1e6) : 0.0);
  double worst = 0;
  for (size_t i = 0; i < outputs.size(); ++i) worst = std::max(worst, max_relative_error(reference[i], outputs[i].array()));
  text += fmt::format("max relative error against the interpreter: {:.3g}\n", worst);
  return text;
}

}  // namespace detail

}  // namespace tj
