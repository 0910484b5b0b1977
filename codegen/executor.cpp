// Kernel-by-kernel execution: native kernels through the LLVM backend,
// the rest on the reference interpreter.
#include "codegen/executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "codegen/llvm/emit.h"
#include "codegen/loop_kernel.h"
#include "codegen/target.h"
#include "ir/error.h"
#include "ir/interpreter.h"
#include "ir/schedule.h"
#include "runtime/buffer_pool.h"
#include "runtime/kernel_scratch.h"
#include "runtime/parallel.h"

namespace tj {

namespace {

constexpr int64_t kElementsPerChunk = 1 << 15;  // parallel grain: about 128 KiB of float32 per chunk

void copy_values(const Array& src, const Array& dst) {
  const Array dense = src.contiguous();
  const size_t bytes = static_cast<size_t>(dense.numel() * dtype_size(dense.dtype()));
  if (bytes > 0) std::memcpy(dst.mutable_at(dst.offset()), dense.at(dense.offset()), bytes);
}

// A kernel as machine code, or the reason it is interpreted.
struct NativeKernel {
  std::unique_ptr<llvm_backend::CompiledKernel> code;
  LoopKernel loop;
  std::string why_not;
  double lower_ms = 0;
  // A matmul's B that is a bound constant (a captured weight: the same data
  // on every call, as the prepack pass marks it) is packed at the first call only.
  bool constant_b = false;
  std::once_flag pack_once;
  Array packed_b;
};

// Whether the kernel's packed B (if any) is a bound constant.
bool packs_a_constant(const Kernel& kernel, const LoopKernel& loop) {
  if (loop.packed_b_step < 0) return false;
  const size_t buffer = static_cast<size_t>(loop.loads[loop.steps[loop.steps[loop.packed_b_step].args[1]].load].buffer);
  return buffer < kernel.inputs.size() && kernel.inputs[buffer]->op == Op::constant && !kernel.inputs[buffer]->constant.symbol.empty();
}

std::string describe_native(const NativeKernel& native) {
  if (!native.code) return "interp: " + native.why_not;
  const std::string packing = native.loop.packed_b_step < 0 ? "" : native.constant_b ? ", B (a constant) packed once" : ", B packed on every call";
  return fmt::format("llvm, {} with {}-lane float32 vectors, domain {} ({} pass{}), {}{}", host_isa().name, host_isa().f32_lanes,
                     shape_to_string(native.loop.domain), native.loop.passes, native.loop.passes == 1 ? "" : "es", native.code->schedule(), packing);
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

}  // namespace

Backend parse_backend(const std::string& name) {
  if (name == "auto" || name == "llvm") return Backend::llvm;
  if (name == "interp") return Backend::interp;
  if (name == "xbyak") fail("the xbyak backend is not built yet; use auto, llvm or interp");
  fail("unknown backend '{}' (auto, llvm, xbyak, interp)", name);
}

struct Executable::Impl {
  Impl(const Program& p, const Function& f, Backend b, std::shared_ptr<BufferPool> buffers)
      : program(p), function(f), backend(b), kernels(list_kernels(f)), arena_bytes(memory_plan(f).arena_bytes),
        pool(buffers ? std::move(buffers) : BufferPool::create()), params(f.params()), last_native(kernels.size()) {
    for (const auto& n : f.nodes())
      if (n->op == Op::constant) constants[n.get()] = constant_value(p, f, *n);
  }
  const Program& program;
  const Function& function;
  Backend backend;
  std::vector<Kernel> kernels;
  int64_t arena_bytes = 0;
  std::shared_ptr<BufferPool> pool;  // arenas and results, reused across calls
  std::vector<Node*> params;
  mutable std::mutex mutex;
  mutable std::map<std::string, std::pair<size_t, std::shared_ptr<NativeKernel>>> native;  // by kernel index and input layouts
  // Per kernel, the layouts of its last call and their code: repeated calls skip the key.
  mutable std::vector<std::pair<std::vector<BufferLayout>, std::shared_ptr<NativeKernel>>> last_native;
  std::map<const Node*, Array> constants;  // made once: splats and bound tensor data

  std::shared_ptr<NativeKernel> native_for(size_t index, const std::vector<BufferLayout>& layouts) const {
    {
      std::lock_guard lock(mutex);
      const auto& [last_layouts, last] = last_native[index];
      if (last && last_layouts == layouts) return last;
    }
    // The key: kernel index and layouts as bytes (no formatting on the hot path).
    std::vector<int64_t> words = {static_cast<int64_t>(index)};
    for (const BufferLayout& l : layouts) {
      words.push_back(l.offset);
      words.push_back(static_cast<int64_t>(l.strides.size()));
      words.insert(words.end(), l.strides.begin(), l.strides.end());
    }
    const std::string key(reinterpret_cast<const char*>(words.data()), words.size() * sizeof(int64_t));
    std::lock_guard lock(mutex);  // compiles are rare and short; one at a time keeps LLVM's use simple
    auto& [kernel_index, slot] = native[key];
    kernel_index = index;
    if (!slot) {
      auto made = std::make_shared<NativeKernel>();
      const auto start = Clock::now();
      std::optional<LoopKernel> loop = lower_kernel(kernels[index], layouts, &made->why_not);
      made->lower_ms = ms_since(start);
      if (loop) {
        made->loop = *loop;
        made->code = llvm_backend::compile_loop_kernel(*loop);
        made->constant_b = packs_a_constant(kernels[index], *loop);
      }
      slot = std::move(made);  // only once built: a failed compile leaves no half-made entry
    }
    last_native[index] = {layouts, slot};
    return slot;
  }
};

namespace {

class Runner {
 public:
  explicit Runner(const Executable::Impl& impl, std::vector<KernelRun>* profile = nullptr) : impl_(impl), profile_(profile) {}

  std::vector<Array> run(const std::vector<Array>& inputs) {
    const Function& f = impl_.function;
    const std::vector<Node*>& params = impl_.params;
    if (inputs.size() != params.size()) fail("@{} takes {} input(s), got {}", f.name(), params.size(), inputs.size());
    for (size_t i = 0; i < params.size(); ++i) {
      if (inputs[i].type() != params[i]->type)
        fail("@{}: input %{} must be {}, got {}", f.name(), params[i]->name, type_to_string(params[i]->type),
             type_to_string(inputs[i].type()));
      materialized_[params[i]] = inputs[i];
    }
    arena_ = Array::view(impl_.pool->acquire(impl_.arena_bytes), DType::boolean, {impl_.arena_bytes}, {1}, 0);
    if (profile_) profile_->assign(impl_.kernels.size(), KernelRun{});
    for (size_t k = 0; k < impl_.kernels.size(); ++k) {
      if (!profile_) {
        run_kernel(k);
        continue;
      }
      const auto start = Clock::now();
      run_kernel(k);
      (*profile_)[k].run_ms = ms_since(start);
    }
    local_.clear();
    std::vector<Array> results;
    results.reserve(f.results().size());
    for (Node* r : f.results()) results.push_back(value(r));  // a reshaped result is a view of its writer's buffer
    return results;
  }

 private:
  // Where a kernel writes `out`: its arena slot, or a pooled result buffer
  // (not zeroed: a kernel writes every element of its outputs).
  Array output_buffer(const Node* out) {
    if (out->arena_offset < 0) {
      const int64_t bytes = numel(out->type.shape) * dtype_size(out->type.dtype);
      return Array::view(impl_.pool->acquire(bytes), out->type.dtype, out->type.shape, contiguous_strides(out->type.shape), 0);
    }
    return Array::view(arena_.storage(), out->type.dtype, out->type.shape, contiguous_strides(out->type.shape),
                       out->arena_offset / dtype_size(out->type.dtype));
  }

  void run_kernel(size_t index) {
    const Kernel& kernel = impl_.kernels[index];
    local_.clear();
    if (impl_.backend == Backend::llvm && run_native(index)) return;
    if (profile_) {
      KernelRun& r = (*profile_)[index];
      if (r.code.empty()) r.code = impl_.backend == Backend::interp ? "interp (the reference interpreter)" : "interp: a copy";
    }
    for (Node* n : kernel.nodes) local_[n] = is_compute(n->op) ? compute(n) : value(n);
    for (Node* out : kernel.outputs.empty() ? kernel.nodes : kernel.outputs) {
      Array result = output_buffer(out);
      copy_values(local_.at(out), result);
      materialized_[out] = result;
    }
  }

  bool run_native(size_t index) {
    const Kernel& kernel = impl_.kernels[index];
    if (kernel.kind == KernelKind::copy) return false;
    std::vector<BufferLayout> layouts;
    std::vector<void*> args;
    layouts.reserve(kernel.inputs.size());
    args.reserve(kernel.inputs.size() + kernel.outputs.size() + 1);
    for (Node* input : kernel.inputs) {
      if (input->op == Op::constant && input->constant.symbol.empty()) {  // lowered to an immediate
        layouts.emplace_back();
        args.push_back(nullptr);
        continue;
      }
      // The kernel gets the view's first element: its code depends on the
      // strides only, so that slices at every offset share one kernel.
      const Array& a = value(input);
      layouts.push_back({a.strides(), 0});
      args.push_back(const_cast<std::byte*>(a.at(a.numel() > 0 ? a.offset() : 0)));  // an empty view's offset may lie past its storage
    }
    const std::shared_ptr<NativeKernel> native = impl_.native_for(index, layouts);
    if (!native->code) {
      if (profile_) (*profile_)[index] = KernelRun{.code = describe_native(*native), .lower_ms = native->lower_ms};
      return false;
    }
    for (Node* out : kernel.outputs) {
      Array buffer = output_buffer(out);
      args.push_back(buffer.mutable_at(buffer.offset()));
      materialized_[out] = buffer;
    }
    const LoopKernel& loop = native->loop;
    Array packed;
    if (native->constant_b) {
      std::call_once(native->pack_once, [&] { native->packed_b = pack_b(loop, args); });
      packed = native->packed_b;
    } else if (loop.packed_b_step >= 0) {
      packed = pack_b(loop, args);
    }
    if (loop.packed_b_step >= 0) args.push_back(packed.mutable_at(0));
    const llvm_backend::KernelFn fn = native->code->function();
    const bool elements = llvm_backend::ranges_over_elements(loop);
    const int64_t count = elements ? loop.inner() : (loop.rows() + loop.row_block - 1) / loop.row_block;
    int64_t grain = elements ? kElementsPerChunk : std::max<int64_t>(1, kElementsPerChunk / std::max<int64_t>(loop.inner(), 1));
    if (llvm_backend::reduces_columns(loop)) grain = std::max(grain, llvm_backend::kColumnGrain);
    const int64_t scratch = native->code->scratch_bytes();
    parallel_for(count, grain, [&](int64_t begin, int64_t end) {
      reserve_kernel_scratch(scratch);  // here, where a failure can throw
      fn(args.data(), begin, end);
    });
    if (profile_) {
      const llvm_backend::CompilePhases& phases = native->code->phases();
      (*profile_)[index] = KernelRun{.code = describe_native(*native), .native = true, .lower_ms = native->lower_ms,
                                     .emit_ms = phases.emit_ms, .optimize_ms = phases.optimize_ms,
                                     .machine_code_ms = phases.machine_code_ms, .work_items = count, .chunk = grain,
                                     .over_elements = elements};
    }
    return true;
  }

  // B of a matmul in panels of loop.panel columns (see LoopKernel), zero-padded.
  // Blocks of kPackRows rows of B at a time, each copied into every panel of
  // the thread's range: the block's rows stay in the cache while the panels
  // take their columns, and each panel's part is written contiguously. (Panel
  // by panel down all of B's rows read every row once per panel from memory,
  // a page apart: the MLP's two packs took ~60% as long as its kernels; the
  // MLP benchmark, A/B min of 4: 169 -> 128 ms at 1 thread, 88 -> 65 ms at 2.)
  // 256 rows: a C model of this loop packs [1024,4096] in 3.25 ms on one
  // thread, against 4.25 with 64 rows and 6.2 with 1024.
  static constexpr int64_t kPackRows = 256;
  template <int64_t kWidth>  // a whole panel's columns, contiguous: fixed-size copies the compiler inlines
  static void copy_rows(const float* in, int64_t in_stride, float* out, int64_t rows) {
    for (int64_t row = 0; row < rows; ++row, in += in_stride, out += kWidth) std::memcpy(out, in, kWidth * sizeof(float));
  }
  Array pack_b(const LoopKernel& loop, const std::vector<void*>& args) {
    const Step& step = loop.steps[loop.packed_b_step];
    const IndexMap& b = loop.loads[loop.steps[step.args[1]].load];
    const int64_t k = step.k_extent, n = loop.inner(), width = loop.panel, panels = (n + width - 1) / width;
    const int64_t floats = std::max<int64_t>(panels * k * width, 1);
    Array packed = Array::view(impl_.pool->acquire(floats * 4), DType::f32, {floats}, {1}, 0);
    const float* source = static_cast<const float*>(args[b.buffer]) + b.offset;
    float* to = packed.mutable_data<float>();
    const int64_t n_stride = b.strides.back();
    parallel_for(panels, 1, [&](int64_t first, int64_t last) {
      for (int64_t block = 0; block < k; block += kPackRows)
        for (int64_t p = first; p < last; ++p) {
          const int64_t valid = std::clamp<int64_t>(n - p * width, 0, width), rows = std::min(k - block, kPackRows);
          const float* in = source + block * b.k_stride + p * width * n_stride;
          float* out = to + (p * k + block) * width;
          if (n_stride == 1 && valid == 8 && width == 8) copy_rows<8>(in, b.k_stride, out, rows);
          else if (n_stride == 1 && valid == 16 && width == 16) copy_rows<16>(in, b.k_stride, out, rows);
          else
            for (int64_t row = 0; row < rows; ++row, in += b.k_stride, out += width) {
              for (int64_t l = 0; l < valid; ++l) out[l] = in[l * n_stride];
              std::fill(out + valid, out + width, 0.0f);
            }
        }
    });
    return packed;
  }

  Array compute(const Node* n) {
    std::vector<Array> operands;
    for (Node* input : n->inputs) operands.push_back(value(input));
    return evaluate_op(*n, operands, parallel_for);
  }

  // A value as this kernel sees it: computed here, a leaf, materialized by an
  // earlier kernel, or a view of one of those.
  const Array& value(Node* n) {
    if (auto it = local_.find(n); it != local_.end()) return it->second;
    if (auto it = materialized_.find(n); it != materialized_.end()) return it->second;
    if (n->op == Op::constant) return materialized_[n] = impl_.constants.at(n);
    if (!is_view(n->op))
      fail("internal: @{}: %{} is read by a kernel that does not compute it, and no kernel wrote it", impl_.function.name(), n->name);
    const Array& source = value(n->inputs[0]);  // map references stay valid across inserts
    return local_[n] = evaluate_op(*n, std::span<const Array>(&source, 1), parallel_for);
  }

  const Executable::Impl& impl_;
  std::vector<KernelRun>* profile_;
  std::map<const Node*, Array> materialized_;
  std::map<const Node*, Array> local_;
  Array arena_;
};

}  // namespace

Executable::Executable(const Program& program, const Function& function, Backend backend, std::shared_ptr<BufferPool> buffers)
    : impl_(std::make_unique<Impl>(program, function, backend, std::move(buffers))) {}

Executable::~Executable() = default;

std::vector<Array> Executable::run(const std::vector<Array>& inputs) const { return Runner(*impl_).run(inputs); }

std::vector<Array> Executable::run(const std::vector<Array>& inputs, std::vector<KernelRun>& profile) const {
  return Runner(*impl_, &profile).run(inputs);
}

double Executable::compile_ms() const {
  std::lock_guard lock(impl_->mutex);
  double total = 0;
  for (const auto& [key, entry] : impl_->native) {
    const NativeKernel& native = *entry.second;
    total += native.lower_ms;
    if (native.code) total += native.code->phases().emit_ms + native.code->phases().optimize_ms + native.code->phases().machine_code_ms;
  }
  return total;
}

}  // namespace tj
