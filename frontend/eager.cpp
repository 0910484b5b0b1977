// Eager ops: compiled one-op kernels cached per op, attributes and operand
// signature, or the reference interpreter for small ops (see eager.h).
#include "frontend/eager.h"

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

#include "codegen/loop_kernel.h"
#include "frontend/dispatch.h"
#include "frontend/tensor_impl.h"
#include "ir/error.h"
#include "ir/infer.h"
#include "ir/interpreter.h"
#include "ir/printer.h"
#include "ir/schedule.h"
#include "runtime/buffer_pool.h"
#include "runtime/parallel.h"
#include "tensorjit/jit.h"

namespace tj {

namespace {

// An op on fewer elements (its largest operand or result) runs the
// interpreter. At 2^14 floats the interpreter takes ~3 µs for an add (its
// vectorized row loop) and ~230 µs for a tanh (libm in double), the
// compiled kernel 2-3 µs, and a compile 5-10 ms: a loop that repeats a tanh
// ~30 times comes out ahead; arithmetic gains little from compiling at any
// size below this.
constexpr int64_t kDefaultCompileMinElements = int64_t{1} << 14;

int64_t compile_min_from_environment() {
  const char* env = std::getenv("TJ_EAGER_COMPILE_MIN");
  if (!env) return kDefaultCompileMinElements;
  const std::string_view text(env);
  int64_t n = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size() || n < 0)
    fail("TJ_EAGER_COMPILE_MIN={} is not an element count (0 compiles every eager op)", text);
  return n;
}

// -1 until read: TJ_EAGER_COMPILE_MIN is parsed at the first eager op that
// needs it, unless set_eager_compile_min_elements came first.
std::atomic<int64_t> compile_min{-1};

// The compiled kernels of each op and attribute set, one jitted function
// each (it keeps their signatures, up to kSignaturesPerOp: as many as a
// jitted function keeps), least recently used dropped beyond kOps. Their
// results come from one pool, so that a result one op dropped is the next
// op's output buffer (one pool per op kept a dropped buffer per op: 9 of
// 64 MiB after eager GELU on 4096x4096 floats). It keeps up to 1 GiB of
// dropped results, as a jitted function's pool does: GELU written as one
// C++ expression holds its 9 temporaries to the expression's end, and with
// 256 MiB most went back to the system and faulted in again at the next
// call (40-45 ms a call against 22-24, from Python, best of 8).
class EagerCache {
 public:
  static constexpr size_t kOps = 256, kSignaturesPerOp = 64;
  static constexpr int64_t kCachedBytes = int64_t{1} << 30;

  std::shared_ptr<detail::JitCore> jitted(Op op, const Attrs& attrs) {
    std::string key(op_name(op));
    for (const auto& [name, value] : attrs) key += fmt::format(" {}={}", name, print_attr_value(value));
    std::shared_ptr<detail::JitCore> evicted;  // released after the lock: it frees machine code
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      recency_.splice(recency_.begin(), recency_, it->second.recency);
      return it->second.core;
    }
    auto core = std::make_shared<detail::JitCore>(
        [op, attrs](const std::vector<Tensor>& in, std::string&) { return std::vector<Tensor>{apply(op, in, attrs)}; },
        JitOptions{.backend = "auto", .fuse = false, .cache_capacity = kSignaturesPerOp}, buffers_);
    recency_.push_front(key);
    entries_.emplace(key, Entry{core, recency_.begin()});
    if (entries_.size() > kOps) {
      auto victim = entries_.find(recency_.back());
      evicted = std::move(victim->second.core);
      const JitStats counts = evicted->stats();
      retired_ += counts;
      retired_.evictions += static_cast<int64_t>(counts.cached);  // its signatures go with it
      entries_.erase(victim);
      recency_.pop_back();
    }
    return core;
  }

  // The jitted functions' counters, those of evicted ops included.
  JitStats stats() {
    std::lock_guard lock(mutex_);
    JitStats total = retired_;
    total.cached = 0;
    for (const auto& [op, entry] : entries_) total += entry.core->stats();
    return total;
  }

 private:
  struct Entry {
    std::shared_ptr<detail::JitCore> core;
    std::list<std::string>::iterator recency;
  };
  std::mutex mutex_;
  const std::shared_ptr<BufferPool> buffers_ = BufferPool::create(kCachedBytes);
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> recency_;  // most recently used first
  JitStats retired_;                // the counters of evicted ops
};

EagerCache& cache() {
  static auto* instance = new EagerCache;  // never destroyed: its kernels may outlive static teardown's order
  return *instance;
}

// Views stay views; ops that codegen does not make (casts, concat, other
// dtypes than f32, matrix-vector products) would trace and compile only to
// run the interpreter inside the program, and copy its result.
bool worth_compiling(Op op, const std::vector<TensorType>& operands, const TensorType& result) {
  if (!is_compute(op)) return false;
  int64_t elements = numel(result.shape);
  for (const TensorType& t : operands) elements = std::max(elements, numel(t.shape));
  return elements >= eager_compile_min_elements() && generates_op(op, operands, result);
}

bool shares_storage(const Array& a, const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs)
    if (a.storage() == t.array().storage()) return true;
  return false;
}

}  // namespace

void set_eager_compile_min_elements(int64_t elements) {
  if (elements < 0) fail("set_eager_compile_min_elements: {} is not an element count (0 compiles every eager op)", elements);
  compile_min.store(elements, std::memory_order_relaxed);
}

int64_t eager_compile_min_elements() {
  int64_t elements = compile_min.load(std::memory_order_relaxed);
  if (elements >= 0) return elements;
  elements = compile_min_from_environment();
  int64_t unread = -1;
  return compile_min.compare_exchange_strong(unread, elements, std::memory_order_relaxed) ? elements : unread;
}

JitStats eager_stats() { return cache().stats(); }

Tensor run_eager(Op op, const std::vector<Tensor>& inputs, const Attrs& attrs) {
  std::vector<TensorType> types;
  types.reserve(inputs.size());
  for (const Tensor& t : inputs) types.push_back(t.impl()->type);
  const TensorType result = infer_type(op, types, attrs);  // reports bad operands, naming the op
  if (worth_compiling(op, types, result)) {
    Array out = cache().jitted(op, attrs)->call(inputs).front().array();
    // A fresh tensor, as eager ops always give: never the storage of an
    // operand, which a program returns where simplify folds the op away
    // (a cast to its own dtype; none of the ops compiled here today).
    return Tensor::from_array(shares_storage(out, inputs) ? out.copy() : std::move(out));
  }
  std::vector<Array> values;
  values.reserve(inputs.size());
  for (const Tensor& t : inputs) values.push_back(t.array());
  Node node{op, "eager", {}, attrs, result, {}, {}};
  return Tensor::from_array(evaluate_op(node, values, parallel_for));
}

}  // namespace tj
