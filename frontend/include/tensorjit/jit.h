// tj::jit: trace a function of tensors once per input signature, optimize
// and compile the graph, cache it, and replay it (design §2).
//
//   auto f = tj::jit([](const tj::Tensor& x) { return tj::softmax(x * 2.0); });
//   tj::Tensor y = f(x);            // traces and compiles on the first call
//   f.stats().compiles;             // one per distinct signature
//   std::string report = tj::explain(f, x);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "tensorjit/tensor.h"

namespace tj {

struct JitOptions {
  std::string backend = "auto";  // auto | interp (llvm and xbyak when they are built)
  bool fuse = true;              // false: every op its own kernel (eager-equivalent)
  size_t cache_capacity = 64;    // compiled signatures kept (least recently used go first)
};

struct JitStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t compiles = 0;
  int64_t evictions = 0;
  double compile_ms = 0;       // total over all compiles
  size_t cached = 0;           // signatures in the cache now
  std::string last_miss;       // why the last miss missed: which input's shape, dtype or strides changed

  // Adds another cache's counters (not its last_miss).
  JitStats& operator+=(const JitStats& other) {
    hits += other.hits;
    misses += other.misses;
    compiles += other.compiles;
    evictions += other.evictions;
    compile_ms += other.compile_ms;
    cached += other.cached;
    return *this;
  }
};

// Eager ops (outside jit) on at least this many elements, counting the
// largest operand or result, run as compiled one-op kernels, cached per op
// and signature (design §2); smaller ones run the reference interpreter.
// Default 16384, or TJ_EAGER_COMPILE_MIN; 0 compiles every eager op.
void set_eager_compile_min_elements(int64_t elements);
int64_t eager_compile_min_elements();
// The compile cache of eager ops: a jitted function's counters, added up
// over its ops, evicted ones included (last_miss is left empty).
JitStats eager_stats();

struct JitState;
class BufferPool;

namespace detail {

// The untyped core of a jitted function: tensors in, tensors out.
class JitCore {
 public:
  // Traces the function on `inputs`. It may describe how its results nest
  // in `result_layout` (the Python binding does); call() hands that back.
  using Body = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, std::string& result_layout)>;
  // Results and arenas come from `buffers` (eager ops share one), or from
  // a pool per compiled signature.
  JitCore(Body body, JitOptions options, std::shared_ptr<BufferPool> buffers = nullptr);
  std::vector<Tensor> call(const std::vector<Tensor>& inputs, std::string* result_layout = nullptr) const;
  JitStats stats() const;
  std::string explain(const std::vector<Tensor>& inputs, bool json = false) const;

 private:
  std::shared_ptr<JitState> state_;
};

template <typename T>
struct Results;
template <>
struct Results<Tensor> {
  static std::vector<Tensor> flatten(const Tensor& t) { return {t}; }
  static Tensor rebuild(std::vector<Tensor> v) { return v.at(0); }
};
template <>
struct Results<std::vector<Tensor>> {
  static std::vector<Tensor> flatten(std::vector<Tensor> v) { return v; }
  static std::vector<Tensor> rebuild(std::vector<Tensor> v) { return v; }
};
template <typename... Ts>
struct Results<std::tuple<Ts...>> {
  static std::vector<Tensor> flatten(const std::tuple<Ts...>& t) {
    return std::apply([](const auto&... x) { return std::vector<Tensor>{x...}; }, t);
  }
  static std::tuple<Ts...> rebuild(std::vector<Tensor> v) {
    return [&]<size_t... I>(std::index_sequence<I...>) { return std::tuple<Ts...>{v.at(I)...}; }(std::index_sequence_for<Ts...>{});
  }
};
template <typename A, typename B>
struct Results<std::pair<A, B>> {
  static std::vector<Tensor> flatten(const std::pair<A, B>& p) { return {p.first, p.second}; }
  static std::pair<A, B> rebuild(std::vector<Tensor> v) { return {v.at(0), v.at(1)}; }
};

}  // namespace detail

template <typename Signature>
class Jitted;

// A jitted function with the signature of the function it wraps.
template <typename R, typename... Args>
class Jitted<R(Args...)> {
 public:
  using Result = std::decay_t<R>;
  Jitted(std::function<R(Args...)> fn, JitOptions options)
      : core_(
            [fn](const std::vector<Tensor>& in, std::string&) {
              return [&]<size_t... I>(std::index_sequence<I...>) {
                return detail::Results<Result>::flatten(fn(in[I]...));
              }(std::index_sequence_for<Args...>{});
            },
            std::move(options)) {}

  Result operator()(const std::decay_t<Args>&... args) const {
    return detail::Results<Result>::rebuild(core_.call({Tensor(args)...}));
  }
  JitStats stats() const { return core_.stats(); }
  std::string explain(const std::decay_t<Args>&... args) const { return core_.explain({Tensor(args)...}); }
  std::string explain_json(const std::decay_t<Args>&... args) const { return core_.explain({Tensor(args)...}, true); }

 private:
  detail::JitCore core_;
};

// A jitted function of a list of tensors (the list's length is part of the signature).
template <typename R, typename List>
  requires std::is_same_v<std::decay_t<List>, std::vector<Tensor>>
class Jitted<R(List)> {
 public:
  using Result = std::decay_t<R>;
  Jitted(std::function<R(List)> fn, JitOptions options)
      : core_([fn](const std::vector<Tensor>& in, std::string&) { return detail::Results<Result>::flatten(fn(in)); }, std::move(options)) {}

  Result operator()(const std::vector<Tensor>& args) const { return detail::Results<Result>::rebuild(core_.call(args)); }
  JitStats stats() const { return core_.stats(); }
  std::string explain(const std::vector<Tensor>& args) const { return core_.explain(args); }
  std::string explain_json(const std::vector<Tensor>& args) const { return core_.explain(args, true); }

 private:
  detail::JitCore core_;
};

namespace detail {
template <typename F>
struct SignatureOf;
template <typename R, typename... Args>
struct SignatureOf<std::function<R(Args...)>> {
  using type = R(Args...);
};
}  // namespace detail

// Wraps a function (or lambda) of tensors returning a Tensor, a
// std::vector<Tensor>, a std::pair or a std::tuple of Tensors.
template <typename Fn>
auto jit(Fn fn, JitOptions options = {}) {
  using F = decltype(std::function{fn});
  return Jitted<typename detail::SignatureOf<F>::type>(F(std::move(fn)), std::move(options));
}

// The report of design §7 for `f` on these inputs, as text.
template <typename Signature, typename... Args>
std::string explain(const Jitted<Signature>& f, const Args&... args) {
  return f.explain(args...);
}

// The same report as a JSON document.
template <typename Signature, typename... Args>
std::string explain_json(const Jitted<Signature>& f, const Args&... args) {
  return f.explain_json(args...);
}

}  // namespace tj
