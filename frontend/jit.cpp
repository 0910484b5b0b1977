// tj::jit: per-signature tracing, compilation and the thread-safe LRU cache.
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "frontend/jit_state.h"
#include "frontend/tensor_impl.h"
#include "ir/error.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"

namespace tj {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }


std::string why_missed(const std::vector<InputSignature>& before, const std::vector<InputSignature>& now) {
  if (before.empty()) return "first call";
  std::vector<std::string> changes;
  for (size_t i = 0; i < now.size(); ++i)
    if (i >= before.size() || !(before[i] == now[i]))
      changes.push_back(fmt::format("input {}: {} -> {}", i, i < before.size() ? describe_input(before[i]) : "none", describe_input(now[i])));
  return changes.empty() ? "a signature seen before but evicted from the cache" : fmt::format("{}", fmt::join(changes, "; "));
}

Program clone(const Program& program) {
  Program copy = parse_program(print_program(program), "traced");
  copy.constant_data = program.constant_data;
  return copy;
}

std::shared_ptr<const CompiledProgram> compile(const JitState& state, const std::vector<Tensor>& inputs, std::string signature) {
  auto compiled = std::make_shared<CompiledProgram>();
  compiled->signature = std::move(signature);  // readable
  const auto trace_start = Clock::now();
  auto tracer = std::make_shared<Tracer>();
  {
    Tracer::Scope scope(tracer);
    std::vector<Tensor> params;
    for (const Tensor& t : inputs) params.push_back(tracer->add_param({t.dtype(), t.shape()}));
    const std::vector<Tensor> outputs = state.body(params, compiled->result_layout);
    if (outputs.empty()) fail("jit: the function returned no tensors");
    std::vector<Node*> results;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].defined()) fail("jit: result {} is an undefined tensor", i);
      const auto& impl = outputs[i].impl();
      if (impl->tracer && impl->tracer != tracer) fail("jit: result {} belongs to another trace", i);
      results.push_back(impl->tracer ? impl->node : tracer->capture(outputs[i]));
    }
    tracer->function().set_results(results);
  }
  verify(tracer->program());
  compiled->trace_ms = ms_since(trace_start);
  compiled->traced = clone(tracer->program());
  compiled->optimized = std::move(tracer->program());
  const auto passes_start = Clock::now();
  run_pipeline(compiled->optimized, {.fuse = state.options.fuse});
  compiled->passes_ms = ms_since(passes_start);
  compiled->executable = std::make_unique<Executable>(compiled->optimized, compiled->optimized.functions.front(),
                                                      parse_backend(state.options.backend), state.buffers);
  return compiled;
}

}  // namespace

std::string describe_input(const InputSignature& s) {
  const std::string type = type_to_string({s.dtype, s.shape});
  return s.strides.empty() ? type + " contiguous" : fmt::format("{} strides {}", type, shape_to_string(s.strides));
}

namespace {

// The cache key: the signatures' bytes (no formatting on the hot path).
void append_bytes(std::string& key, const std::vector<int64_t>& values) {
  const int64_t count = static_cast<int64_t>(values.size());
  key.append(reinterpret_cast<const char*>(&count), sizeof count);
  key.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
}

// The inverse of the key: the signature of each input.
std::vector<InputSignature> decode_key(const std::string& key) {
  std::vector<InputSignature> parts;
  size_t at = 0;
  auto take = [&](std::vector<int64_t>& values) {
    int64_t count;
    std::memcpy(&count, key.data() + at, sizeof count);
    values.resize(count);
    if (count > 0) std::memcpy(values.data(), key.data() + at + sizeof count, count * sizeof(int64_t));  // a scalar's shape: no data()
    at += sizeof count + count * sizeof(int64_t);
  };
  while (at < key.size()) {
    InputSignature& s = parts.emplace_back();
    s.dtype = static_cast<DType>(key[at++]);
    take(s.shape);
    take(s.strides);
  }
  return parts;
}

}  // namespace

std::shared_ptr<const CompiledProgram> JitState::lookup(const std::vector<Tensor>& inputs) {
  // Hits are the hot path: they build the key and nothing else.
  std::string key;
  key.reserve(64 * inputs.size());
  static const Strides kContiguous;
  for (const Tensor& t : inputs) {
    const Array& a = t.array();
    key.push_back(static_cast<char>(a.dtype()));
    append_bytes(key, a.shape());
    append_bytes(key, a.is_contiguous() ? kContiguous : a.strides());
  }

  std::promise<std::shared_ptr<const CompiledProgram>> promise;
  std::shared_future<std::shared_ptr<const CompiledProgram>> ready;
  bool compile_here = false;
  {
    std::lock_guard lock(mutex);
    last_key.swap(key);  // `key` now holds the previous call's, `last_key` this one's
    if (auto it = cache.find(last_key); it != cache.end()) {
      ++stats.hits;
      recency.splice(recency.begin(), recency, it->second.recency);
      ready = it->second.ready;
    } else {
      ++stats.misses;
      compile_here = true;
      stats.last_miss = why_missed(decode_key(key), decode_key(last_key));
      key = last_key;
      ready = promise.get_future().share();
      recency.push_front(key);
      cache[key] = Entry{ready, recency.begin()};
      // Evict the least recently used finished compiles beyond the capacity.
      for (auto victim = std::prev(recency.end()); cache.size() > std::max<size_t>(options.cache_capacity, 1) && victim != recency.begin();) {
        auto entry = cache.find(*victim);
        auto previous = std::prev(victim);
        if (entry->second.ready.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
          cache.erase(entry);
          recency.erase(victim);
          ++stats.evictions;
        }
        victim = previous;
      }
      stats.cached = cache.size();
    }
  }
  if (!compile_here) return ready.get();

  // This thread compiles; others asking for the same key wait on `ready`.
  const auto start = Clock::now();
  try {
    std::vector<std::string> described;
    for (const Tensor& t : inputs) {
      const Array& a = t.array();
      described.push_back(describe_input({a.dtype(), a.shape(), a.is_contiguous() ? Strides{} : a.strides()}));
    }
    std::shared_ptr<const CompiledProgram> compiled = compile(*this, inputs, fmt::format("{}", fmt::join(described, ", ")));
    promise.set_value(compiled);
    std::lock_guard lock(mutex);
    ++stats.compiles;
    stats.compile_ms += ms_since(start);
    return compiled;
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end() && it->second.ready.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      recency.erase(it->second.recency);
      cache.erase(it);  // the next call traces again
      stats.cached = cache.size();
    }
    throw;
  }
}

std::vector<Tensor> run_compiled(const CompiledProgram& compiled, const std::vector<Tensor>& inputs) {
  std::vector<Array> arrays;
  arrays.reserve(inputs.size());
  for (const Tensor& t : inputs) arrays.push_back(t.array());
  std::vector<Tensor> outputs;
  outputs.reserve(compiled.optimized.functions.front().results().size());
  for (Array& a : compiled.executable->run(arrays)) outputs.push_back(Tensor::from_array(std::move(a)));
  return outputs;
}

namespace detail {

JitCore::JitCore(Body body, JitOptions options, std::shared_ptr<BufferPool> buffers) : state_(std::make_shared<JitState>()) {
  parse_backend(options.backend);  // an unknown or unbuilt backend fails here, not at the first call
  state_->body = std::move(body);
  state_->options = std::move(options);
  state_->buffers = std::move(buffers);
}

std::vector<Tensor> JitCore::call(const std::vector<Tensor>& inputs, std::string* result_layout) const {
  bool traced = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail("jit: input {} is an undefined tensor", i);
    traced = traced || inputs[i].is_traced();
  }
  std::string inline_layout;
  if (traced) {  // called inside another trace: inline
    std::vector<Tensor> results = state_->body(inputs, inline_layout);
    if (result_layout) *result_layout = std::move(inline_layout);
    return results;
  }
  const std::shared_ptr<const CompiledProgram> compiled = state_->lookup(inputs);
  if (result_layout) *result_layout = compiled->result_layout;
  return run_compiled(*compiled, inputs);
}

JitStats JitCore::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

}  // namespace detail

}  // namespace tj
