// Builds and prints the report of report.h.
#include "codegen/report.h"

#include <bit>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "codegen/target.h"
#include "ir/interpreter.h"
#include "passes/fusion_rules.h"
#include "runtime/parallel.h"

namespace tj {

namespace {

constexpr std::string_view kKinds[] = {"elementwise", "reduce", "matmul", "copy"};

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

KernelReport describe_kernel(const std::vector<Kernel>& kernels, size_t k, const KernelRun& run, const MachineLimits& limits) {
  const Kernel& kernel = kernels[k];
  KernelReport r;
  r.kind = kKinds[static_cast<int>(kernel.kind)];
  r.not_fused = unfused_neighbours(kernels, k);
  r.run = run;
  int64_t read = 0, written = 0;
  for (const Node* n : kernel.nodes) {
    r.ops.push_back(fmt::format("%{} ({})", n->name, op_name(n->op)));
    if (n->op == Op::matmul) r.flops += 2.0 * static_cast<double>(numel(n->type.shape)) * static_cast<double>(n->inputs[0]->type.shape.back());
  }
  for (const Node* n : kernel.inputs) read += bytes_of(n);
  for (const Node* n : kernel.outputs) written += bytes_of(n);
  r.bytes = read + written;
  const double seconds = run.run_ms / 1e3;
  if (r.flops > 0) {
    r.limit = "fma", r.limit_rate = limits.fma_flops_per_s, r.achieved = seconds > 0 ? r.flops / seconds : 0;
  } else {
    const bool reads_mostly = written * 8 < read;  // a reduction to a few values
    r.limit = reads_mostly ? "read" : "triad";
    r.limit_rate = reads_mostly ? limits.read_bytes_per_s : limits.triad_bytes_per_s;
    r.achieved = seconds > 0 ? static_cast<double>(r.bytes) / seconds : 0;
  }
  return r;
}

int64_t ordered(float f) {
  const int32_t bits = std::bit_cast<int32_t>(f);
  return bits < 0 ? -static_cast<int64_t>(bits & 0x7fffffff) : bits;
}

// Worst float32 ulps and worst error scaled by the result's largest magnitude.
void compare(const Array& reference, const Array& got, Report& report) {
  const Array r = reference.contiguous(), g = got.contiguous();
  std::vector<double> want(r.numel()), have(g.numel());
  double scale = 0;
  for (int64_t i = 0; i < r.numel(); ++i) {
    want[i] = read_double(r.at(r.offset() + i), r.dtype());
    have[i] = read_double(g.at(g.offset() + i), g.dtype());
    if (std::isfinite(want[i])) scale = std::max(scale, std::fabs(want[i]));
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const double a = want[i], b = have[i];
    if ((std::isnan(a) && std::isnan(b)) || a == b) continue;
    if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b)) {
      report.max_ulps = report.max_scaled_error = std::numeric_limits<double>::infinity();
      continue;
    }
    report.max_ulps = std::max(report.max_ulps, static_cast<double>(std::llabs(ordered(static_cast<float>(a)) - ordered(static_cast<float>(b)))));
    if (scale > 0) report.max_scaled_error = std::max(report.max_scaled_error, std::fabs(a - b) / scale);
  }
}

std::string rate_text(const KernelReport& k) {
  if (k.limit == "fma") return fmt::format("{:.1f} GFLOP/s", k.achieved / 1e9);
  return fmt::format("{:.2f} GB/s", k.achieved / 1e9);
}

std::string split_text(const KernelRun& run, int threads) {
  if (!run.native) return "runs on the calling thread";
  const int64_t chunks = run.chunk > 0 ? std::max<int64_t>(1, run.work_items / run.chunk) : 1;
  const int64_t used = std::min<int64_t>(chunks, threads);
  return fmt::format("{} {} in chunks of at least {}, on {} thread{}", run.work_items, run.over_elements ? "elements" : "rows",
                     run.chunk, used, used == 1 ? "" : "s");
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<int>(c));
    else out += c;
  }
  return out + "\"";
}

std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

std::string json_strings(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& s : items) quoted.push_back(json_string(s));
  return fmt::format("[{}]", fmt::join(quoted, ", "));
}

}  // namespace

Report make_report(const ReportRequest& q) {
  using Clock = std::chrono::steady_clock;
  q.executable.run(q.inputs);  // compiles what the first call compiles
  std::vector<KernelRun> profile;
  const auto start = Clock::now();
  const std::vector<Array> outputs = q.executable.run(q.inputs, profile);
  Report report;
  report.run_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  report.function = q.optimized.name();
  report.inputs = q.inputs_text;
  report.backend = q.backend;
  report.threads = num_threads();
  report.trace_ms = q.trace_ms;
  report.passes_ms = q.passes_ms;
  report.memory = memory_plan(q.optimized);
  report.limits = machine_limits();
  const std::vector<Kernel> kernels = list_kernels(q.optimized);
  for (size_t k = 0; k < kernels.size(); ++k) report.kernels.push_back(describe_kernel(kernels, k, profile[k], report.limits));
  const std::vector<Array> reference = interpret(q.reference, q.reference_function, q.inputs);
  for (size_t i = 0; i < outputs.size() && i < reference.size(); ++i) compare(reference[i], outputs[i], report);
  return report;
}

static std::string limits_text(const MachineLimits& m) {
  return fmt::format("machine limits at {} thread{}, measured now: triad {:.2f} GB/s, read {:.2f} GB/s, FMA peak {:.1f} GFLOP/s\n",
                     m.threads, m.threads == 1 ? "" : "s", m.triad_bytes_per_s / 1e9, m.read_bytes_per_s / 1e9, m.fma_flops_per_s / 1e9);
}

static std::string error_text(const Report& report) {
  return fmt::format("max error against the interpreter: {:.3g} of the largest result value (worst element: {:.0f} float32 ulps)\n",
                     report.max_scaled_error, report.max_ulps);
}

static std::string kernel_summary(const Report& report, size_t k) {
  const KernelReport& r = report.kernels[k];
  const std::string code = r.run.native ? fmt::format("llvm {} x{}", host_isa().name, host_isa().f32_lanes) : "interp";
  return fmt::format("kernel {} ({}, {} op{}): {}, {:.3f} ms, {} = {:.0f}% of {}", k, r.kind, r.ops.size(), r.ops.size() == 1 ? "" : "s",
                     code, r.run.run_ms, rate_text(r), r.limit_rate > 0 ? 100 * r.achieved / r.limit_rate : 0.0, r.limit);
}

std::string report_text(const Report& report) {
  std::string text = fmt::format("tensorjit explain: @{}, {} kernel{} for inputs ({})\n", report.function, report.kernels.size(),
                                 report.kernels.size() == 1 ? "" : "s", report.inputs);
  text += fmt::format("backend: {}, {} thread{}\n", report.backend, report.threads, report.threads == 1 ? "" : "s");
  text += limits_text(report.limits);
  text += fmt::format("compile: {}passes {:.3f} ms; each kernel's below (first compile in a process includes LLVM's warm-up)\n",
                      report.trace_ms > 0 ? fmt::format("trace {:.3f} ms, ", report.trace_ms) : "", report.passes_ms);
  for (size_t k = 0; k < report.kernels.size(); ++k) {
    const KernelReport& r = report.kernels[k];
    text += fmt::format("kernel {} ({}): fuses {}\n", k, r.kind, fmt::join(r.ops, ", "));
    text += fmt::format("  code: {}\n", r.run.code);
    text += fmt::format("  threads: {}\n", split_text(r.run, report.threads));
    if (r.run.native)
      text += fmt::format("  compile: {:.3f} ms (lower {:.3f}, emit IR {:.3f}, optimize {:.3f}, machine code {:.3f})\n",
                          r.run.lower_ms + r.run.emit_ms + r.run.optimize_ms + r.run.machine_code_ms, r.run.lower_ms, r.run.emit_ms,
                          r.run.optimize_ms, r.run.machine_code_ms);
    text += fmt::format("  run: {:.3f} ms, {} bytes{}, {} = {:.0f}% of {}\n", r.run.run_ms, r.bytes,
                        r.flops > 0 ? fmt::format(", {:.3g} FLOP", r.flops) : "", rate_text(r),
                        r.limit_rate > 0 ? 100 * r.achieved / r.limit_rate : 0.0, r.limit);
    for (const std::string& reason : r.not_fused) text += "  not fused with " + reason + "\n";
  }
  text += fmt::format("memory: arena {} bytes for {} intermediates ({} unshared)\n", report.memory.arena_bytes, report.memory.buffers,
                      report.memory.unshared_bytes);
  text += fmt::format("run: {:.3f} ms for the call\n", report.run_ms);
  return text + error_text(report);
}

std::string report_summary(const Report& report) {
  std::string text = limits_text(report.limits);
  for (size_t k = 0; k < report.kernels.size(); ++k) text += kernel_summary(report, k) + "\n";
  return text + fmt::format("max error against the interpreter: {:.3g} of the largest result value\n", report.max_scaled_error);
}

std::string report_json(const Report& report) {
  const MachineLimits& m = report.limits;
  std::vector<std::string> kernels;
  for (const KernelReport& r : report.kernels) {
    kernels.push_back(fmt::format(
        "    {{\"kind\": {}, \"ops\": {}, \"not_fused\": {}, \"code\": {}, \"native\": {}, "
        "\"threads\": {{\"items\": {}, \"unit\": {}, \"chunk\": {}}}, "
        "\"compile_ms\": {{\"lower\": {}, \"emit\": {}, \"optimize\": {}, \"machine_code\": {}}}, "
        "\"run_ms\": {}, \"bytes\": {}, \"flops\": {}, \"achieved_per_s\": {}, \"limit\": {}, \"limit_per_s\": {}}}",
        json_string(r.kind), json_strings(r.ops), json_strings(r.not_fused), json_string(r.run.code), r.run.native ? "true" : "false",
        r.run.work_items, json_string(r.run.over_elements ? "elements" : "rows"), r.run.chunk, json_number(r.run.lower_ms),
        json_number(r.run.emit_ms), json_number(r.run.optimize_ms), json_number(r.run.machine_code_ms), json_number(r.run.run_ms), r.bytes,
        json_number(r.flops), json_number(r.achieved), json_string(r.limit), json_number(r.limit_rate)));
  }
  return fmt::format(
      "{{\n  \"function\": {},\n  \"inputs\": {},\n  \"backend\": {},\n  \"threads\": {},\n"
      "  \"machine_limits\": {{\"triad_bytes_per_s\": {}, \"read_bytes_per_s\": {}, \"fma_flops_per_s\": {}}},\n"
      "  \"compile_ms\": {{\"trace\": {}, \"passes\": {}}},\n  \"kernels\": [\n{}\n  ],\n"
      "  \"memory\": {{\"arena_bytes\": {}, \"buffers\": {}, \"unshared_bytes\": {}}},\n  \"run_ms\": {},\n"
      "  \"max_error\": {{\"float32_ulps\": {}, \"scaled\": {}}}\n}}\n",
      json_string(report.function), json_string(report.inputs), json_string(report.backend), report.threads,
      json_number(m.triad_bytes_per_s), json_number(m.read_bytes_per_s), json_number(m.fma_flops_per_s), json_number(report.trace_ms),
      json_number(report.passes_ms), fmt::join(kernels, ",\n"), report.memory.arena_bytes, report.memory.buffers,
      report.memory.unshared_bytes, json_number(report.run_ms), json_number(report.max_ulps), json_number(report.max_scaled_error));
}

}  // namespace tj
