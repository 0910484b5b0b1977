// tensorjit.JitFunction, what @tensorjit.jit returns. Arguments are a tree
// (tuples, lists, dicts, keyword arguments) whose array leaves are traced
// inputs and whose other leaves are static: part of the cache key and baked
// into the trace, as with jax.jit's static arguments. Calls whose arguments
// are all arrays take a short path straight to the C++ cache.
#include <list>

#include <pybind11/stl.h>

#include "frontend/python/bindings.h"
#include "frontend/python/convert.h"
#include "tensorjit/jit.h"

namespace tj::python {

namespace {

// Leaves that are arrays are recorded as this marker in a tree's key; an
// inner node as (kNode, "tuple"|"list"|"dict", size-or-keys). User values
// can never be these objects.
py::handle array_marker() {
  static PyObject* marker = PyObject_CallNoArgs(reinterpret_cast<PyObject*>(&PyBaseObject_Type));
  return marker;
}
py::handle node_marker() {
  static PyObject* marker = PyObject_CallNoArgs(reinterpret_cast<PyObject*>(&PyBaseObject_Type));
  return marker;
}

struct Flattened {
  std::vector<Tensor> inputs;
  py::list key;  // the tree with array leaves replaced by the marker
  ArrayKind kind = ArrayKind::numpy;
};

py::dict stats_dict(const JitStats& stats) {
  py::dict d;
  d["hits"] = stats.hits;
  d["misses"] = stats.misses;
  d["compiles"] = stats.compiles;
  d["evictions"] = stats.evictions;
  d["compile_ms"] = stats.compile_ms;
  d["cached"] = stats.cached;
  d["last_miss"] = stats.last_miss;
  return d;
}

void note_kind(Flattened& out, ArrayKind kind) {
  if (kind == ArrayKind::torch || (kind == ArrayKind::tensor && out.kind == ArrayKind::numpy)) out.kind = kind;
}

void flatten(py::handle value, Flattened& out) {
  if (is_array(value)) {
    out.inputs.push_back(to_tensor(value, "jit argument"));
    note_kind(out, out.inputs.back().is_traced() ? ArrayKind::tensor : array_kind(value));
    out.key.append(array_marker());
  } else if (PyTuple_CheckExact(value.ptr()) || PyList_CheckExact(value.ptr())) {
    const bool tuple = PyTuple_CheckExact(value.ptr());
    const auto items = py::reinterpret_borrow<py::sequence>(value);
    out.key.append(py::make_tuple(node_marker(), tuple ? "tuple" : "list", items.size()));
    for (py::handle item : items) flatten(item, out);
  } else if (PyDict_CheckExact(value.ptr())) {
    py::list keys = py::reinterpret_borrow<py::dict>(value).attr("keys")();
    keys.attr("sort")();
    out.key.append(py::make_tuple(node_marker(), "dict", py::tuple(keys)));
    for (py::handle k : keys) flatten(value[k], out);
  } else {
    out.key.append(value);  // static
  }
}

// Rebuilds a value from its key, taking array leaves from `tensors`.
py::object unflatten(const py::list& key, size_t& at, const std::vector<Tensor>& tensors, size_t& next) {
  py::handle part = key[at++];
  if (part.is(array_marker())) return py::cast(tensors.at(next++));
  if (!PyTuple_CheckExact(part.ptr()) || PyTuple_GET_SIZE(part.ptr()) != 3 || PyTuple_GET_ITEM(part.ptr(), 0) != node_marker().ptr())
    return py::reinterpret_borrow<py::object>(part);
  const auto node = part.cast<py::tuple>();
  const std::string type = node[1].cast<std::string>();
  if (type == "dict") {
    py::dict d;
    for (py::handle k : node[2].cast<py::tuple>()) d[k] = unflatten(key, at, tensors, next);
    return d;
  }
  py::list items;
  for (size_t i = 0, n = node[2].cast<size_t>(); i < n; ++i) items.append(unflatten(key, at, tensors, next));
  return type == "tuple" ? py::object(py::tuple(items)) : py::object(items);
}

// Results: tensors (or arrays and numbers, which become constants) nested in
// tuples and lists, recorded as a layout string: T tensor, N None, (...) [...].
void flatten_results(py::handle value, std::vector<Tensor>& tensors, std::string& layout) {
  if (value.is_none()) {
    layout += 'N';
  } else if (PyTuple_Check(value.ptr()) || PyList_Check(value.ptr())) {
    const bool tuple = PyTuple_Check(value.ptr());
    layout += tuple ? '(' : '[';
    for (py::handle item : py::reinterpret_borrow<py::sequence>(value)) flatten_results(item, tensors, layout);
    layout += tuple ? ')' : ']';
  } else if (is_array(value) || PyNumber_Check(value.ptr())) {
    tensors.push_back(operand(value));
    layout += 'T';
  } else {
    fail("jit: the function returned a {}; return tensors, or tuples and lists of them",
         std::string(py::str(py::type::handle_of(value).attr("__name__"))));
  }
}

py::object unflatten_results(const std::string& layout, size_t& at, const std::vector<Tensor>& tensors, size_t& next,
                             ArrayKind kind) {
  const char c = layout.at(at++);
  if (c == 'T') return to_python(tensors.at(next++), kind);
  if (c == 'N') return py::none();
  py::list items;
  const char close = c == '(' ? ')' : ']';
  while (layout.at(at) != close) items.append(unflatten_results(layout, at, tensors, next, kind));
  ++at;
  return c == '(' ? py::object(py::tuple(items)) : py::object(items);
}

class JitFunction {
 public:
  JitFunction(py::function fn, std::string backend, bool fuse, size_t cache_capacity)
      : fn_(std::move(fn)), options_{std::move(backend), fuse, cache_capacity},
        positional_(positional_body(fn_), options_) {}

  py::object call(const py::args& args, const py::kwargs& kwargs) {
    Flattened flat;
    detail::JitCore& core = core_for(args, kwargs, flat);
    std::vector<Tensor> results;
    std::string layout;
    {
      py::gil_scoped_release release;  // tracing takes it back; compiling and running do not need it
      results = core.call(flat.inputs, &layout);
    }
    size_t at = 0, next = 0;
    return unflatten_results(layout, at, results, next, flat.kind);
  }

  std::string explain(const py::args& args, const py::kwargs& kwargs) { return report(args, kwargs, false); }
  std::string explain_json(const py::args& args, const py::kwargs& kwargs) { return report(args, kwargs, true); }

  std::string report(const py::args& args, const py::kwargs& kwargs, bool json) {
    Flattened flat;
    detail::JitCore& core = core_for(args, kwargs, flat);
    py::gil_scoped_release release;
    return core.explain(flat.inputs, json);
  }

  py::dict stats() const {
    JitStats total = positional_.stats();
    for (const Variant& v : variants_) total += v.core->stats();
    total.evictions += variant_evictions_;
    total.last_miss = last_miss_.empty() ? last_core_->stats().last_miss : last_miss_;
    py::dict d = stats_dict(total);
    d["static_variants"] = variants_.size();
    return d;
  }

 private:
  // A distinct tree of arguments with its static values, and its own cache.
  struct Variant {
    py::object key;
    std::unique_ptr<detail::JitCore> core;
  };

  static detail::JitCore::Body positional_body(py::function fn) {
    return [fn](const std::vector<Tensor>& inputs, std::string& layout) {
      py::gil_scoped_acquire gil;
      py::tuple args(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) args[i] = py::cast(inputs[i]);
      std::vector<Tensor> results;
      flatten_results(fn(*args), results, layout);
      return results;
    };
  }

  static detail::JitCore::Body tree_body(py::function fn, py::list key, size_t positional) {
    return [fn, key, positional](const std::vector<Tensor>& inputs, std::string& layout) {
      py::gil_scoped_acquire gil;
      size_t at = 0, next = 0;
      py::list args;
      for (size_t i = 0; i < positional; ++i) args.append(unflatten(key, at, inputs, next));
      const py::object kwargs = unflatten(key, at, inputs, next);
      std::vector<Tensor> results;
      flatten_results(fn(*py::tuple(args), **kwargs), results, layout);
      return results;
    };
  }

  detail::JitCore& core_for(const py::args& args, const py::kwargs& kwargs, Flattened& flat) {
    bool all_arrays = kwargs.empty();
    for (py::handle a : args) all_arrays = all_arrays && is_array(a);
    if (all_arrays) {
      for (size_t i = 0; i < args.size(); ++i) {
        flat.inputs.push_back(to_tensor(args[i], "jit argument"));
        note_kind(flat, flat.inputs.back().is_traced() ? ArrayKind::tensor : array_kind(args[i]));
      }
      last_miss_.clear();
      return *(last_core_ = &positional_);
    }
    for (py::handle a : args) flatten(a, flat);
    flatten(py::dict(kwargs), flat);
    const py::tuple key(flat.key);
    for (auto it = variants_.begin(); it != variants_.end(); ++it) {
      if (it->key.equal(key)) {
        variants_.splice(variants_.begin(), variants_, it);
        last_miss_.clear();
        return *(last_core_ = variants_.front().core.get());
      }
    }
    last_miss_ = "first call with these static arguments or this argument structure";
    variants_.push_front({key, std::make_unique<detail::JitCore>(tree_body(fn_, flat.key, args.size()), options_)});
    while (variants_.size() > std::max<size_t>(options_.cache_capacity, 1)) {
      variants_.pop_back();
      ++variant_evictions_;
    }
    return *(last_core_ = variants_.front().core.get());
  }

  py::function fn_;
  JitOptions options_;
  detail::JitCore positional_;
  std::list<Variant> variants_;  // most recently used first
  int64_t variant_evictions_ = 0;
  std::string last_miss_;  // set when the last call made a new variant
  detail::JitCore* last_core_ = &positional_;  // the last call's; the newest variant is never evicted
};

}  // namespace

void bind_jit(py::module_& m) {
  py::class_<JitFunction>(m, "JitFunction", py::dynamic_attr(),
                          "A function traced and compiled per input signature (see tensorjit.jit).")
      .def(py::init<py::function, std::string, bool, size_t>(), py::arg("fn"), py::arg("backend") = "auto",
           py::arg("fuse") = true, py::arg("cache_capacity") = 64)
      .def("__call__", &JitFunction::call)
      .def("explain", &JitFunction::explain, "The per-kernel report (design §7) for a call with these arguments.")
      .def("explain_json", &JitFunction::explain_json, "The same report as a JSON document.")
      .def("stats", &JitFunction::stats, "Cache counters: hits, misses, compiles, evictions, compile_ms, cached.")
      .def("__get__", [](py::object self, py::object instance, py::object) -> py::object {
        // Decorated methods: bind `self` as a static argument, like a function.
        if (instance.is_none()) return self;
        return py::module_::import("functools").attr("partial")(self, instance);
      });

  m.def("set_eager_compile_min_elements", &set_eager_compile_min_elements, py::arg("elements"),
        "Eager ops on at least this many elements run as compiled one-op kernels, cached (0: every op).");
  m.def("get_eager_compile_min_elements", &eager_compile_min_elements);
  m.def("eager_stats", [] { return stats_dict(eager_stats()); }, "The eager ops' compile cache counters, as jit's stats().");
}

}  // namespace tj::python
