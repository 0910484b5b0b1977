// tensorjit.Tensor: a tj::Tensor with NumPy's operators, methods and
// indexing. NumPy defers to it (__array_ufunc__ = None), so `w @ x` with a
// NumPy `w` and a traced `x` traces instead of asking `x` for values.
#include <pybind11/numpy.h>
#include <pybind11/operators.h>
#include <pybind11/stl.h>

#include "frontend/python/bindings.h"
#include "frontend/python/convert.h"
#include "frontend/tensor_impl.h"
#include "tensorjit/ops.h"

namespace tj::python {

namespace {

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

// `self op other`, or `other op self` when reflected (Python's __r*__).
Tensor binary(const Tensor& self, const py::object& other, BinaryFn fn, bool reflected) {
  const Tensor rhs = operand(other, &self);
  return reflected ? fn(rhs, self) : fn(self, rhs);
}

std::string type_text(const Tensor& t) { return type_to_string({t.dtype(), t.shape()}); }

py::tuple shape_tuple(const Tensor& t) { return py::cast(std::vector<int64_t>(t.shape().begin(), t.shape().end())); }

// reshape(2, 3), reshape((2, 3)) and reshape([2, 3]) alike; transpose too.
std::vector<int64_t> int_list(const py::args& args) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) return args[0].cast<std::vector<int64_t>>();
  return args.cast<std::vector<int64_t>>();
}

std::vector<int64_t> reversed_axes(int rank) {
  std::vector<int64_t> perm;
  for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
  return perm;
}

// NumPy basic indexing: ints, slices, Ellipsis and None, as one slice op and
// one reshape (both views).
Tensor index(const Tensor& t, const py::object& key) {
  const py::tuple items = py::isinstance<py::tuple>(key) ? py::reinterpret_borrow<py::tuple>(key) : py::make_tuple(key);
  const int rank = t.rank();
  int consumed = 0, ellipses = 0;
  for (py::handle item : items) {
    if (item.is(py::ellipsis())) ++ellipses;
    else if (!item.is_none()) ++consumed;
  }
  if (ellipses > 1) fail("index: more than one Ellipsis (...) in an index of {}", type_text(t));
  if (consumed > rank) fail("index: {} indices for the {} dims of {}", consumed, rank, type_text(t));
  std::vector<int64_t> starts(rank, 0), ends(t.shape().begin(), t.shape().end()), steps(rank, 1);
  Shape out_shape;
  int d = 0;
  for (py::handle item : items) {
    if (item.is_none()) {
      out_shape.push_back(1);
    } else if (item.is(py::ellipsis())) {
      for (int n = rank - consumed; n > 0; --n, ++d) out_shape.push_back(t.shape()[d]);
    } else if (PySlice_Check(item.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(item.ptr(), &start, &stop, &step) < 0) throw py::error_already_set();
      const int64_t dim = t.shape()[d];
      const Py_ssize_t length = PySlice_AdjustIndices(dim, &start, &stop, step);
      // A stop before index 0 (negative steps) is -1 here but means "past the start" to the op.
      starts[d] = start < 0 ? -dim - 1 : start;
      ends[d] = stop < 0 ? -dim - 1 : stop;
      steps[d] = step;
      out_shape.push_back(length);
      ++d;
    } else if (PyIndex_Check(item.ptr()) && !is_array(item)) {
      const int64_t dim = t.shape()[d];
      int64_t i = py::cast<int64_t>(py::reinterpret_borrow<py::object>(item));
      if (i < -dim || i >= dim) fail("index: {} is out of range for axis {} of size {} in {}", i, d, dim, type_text(t));
      if (i < 0) i += dim;
      starts[d] = i;
      ends[d] = i + 1;
      ++d;
    } else {
      fail("index: {} is not supported in an index of {} (use ints, slices, None and ...; gather with tensorjit.where)",
           std::string(py::str(py::type::handle_of(item).attr("__name__"))), type_text(t));
    }
  }
  for (; d < rank; ++d) out_shape.push_back(t.shape()[d]);
  const bool whole = starts == std::vector<int64_t>(rank, 0) && ends == std::vector<int64_t>(t.shape().begin(), t.shape().end()) &&
                     steps == std::vector<int64_t>(rank, 1);
  const Tensor sliced = whole ? t : t.slice(starts, ends, steps);
  return sliced.shape() == out_shape ? sliced : sliced.reshape(out_shape);
}

std::string repr(const Tensor& t) {
  if (t.is_traced()) return fmt::format("tensorjit.Tensor(traced {})", type_text(t));
  return fmt::format("tensorjit.Tensor({})", std::string(py::repr(to_numpy(t))));
}

using UnaryFn = Tensor (*)(const Tensor&);
struct NamedUnary {
  const char* name;
  UnaryFn fn;
};
// Unary ops also offered as methods, torch style: x.exp().
constexpr NamedUnary kUnaryMethods[] = {
    {"exp", exp},   {"log", log},     {"tanh", tanh}, {"sigmoid", sigmoid}, {"relu", relu},
    {"sqrt", sqrt}, {"rsqrt", rsqrt}, {"erf", erf},   {"abs", abs},         {"reciprocal", reciprocal},
};

// Reductions as methods: x.sum(axis=None, keepdims=False).
using ReduceMethod = Tensor (Tensor::*)(std::vector<int64_t>, bool) const;
struct NamedReduction {
  const char* name;
  ReduceMethod method;
};
constexpr NamedReduction kReductions[] = {
    {"sum", &Tensor::sum}, {"mean", &Tensor::mean}, {"max", &Tensor::max}, {"min", &Tensor::min}};

struct Operator {
  const char* name;
  BinaryFn fn;
  bool reflected;  // Python's __r*__ form: other op self
};
constexpr Operator kOperators[] = {
    {"__add__", add, false},     {"__radd__", add, true},        {"__sub__", sub, false},
    {"__rsub__", sub, true},     {"__mul__", mul, false},        {"__rmul__", mul, true},
    {"__truediv__", div, false}, {"__rtruediv__", div, true},    {"__pow__", pow, false},
    {"__rpow__", pow, true},     {"__matmul__", matmul, false},  {"__rmatmul__", matmul, true},
    {"__eq__", [](const Tensor& a, const Tensor& b) { return a == b; }, false},
    {"__ne__", [](const Tensor& a, const Tensor& b) { return a != b; }, false},
    {"__lt__", [](const Tensor& a, const Tensor& b) { return a < b; }, false},
    {"__le__", [](const Tensor& a, const Tensor& b) { return a <= b; }, false},
    {"__gt__", [](const Tensor& a, const Tensor& b) { return a > b; }, false},
    {"__ge__", [](const Tensor& a, const Tensor& b) { return a >= b; }, false},
};

}  // namespace

const Tensor& concrete(const Tensor& t, const char* asked_for) {
  if (t.is_traced() && !t.impl()->tracer->active())
    fail("{}: a traced tensor ({}) escaped from its jit function and has no value; return it instead", asked_for, type_text(t));
  if (t.is_traced())
    throw TracingError(fmt::format(
        "{}: a traced tensor ({}) has no value while tensorjit.jit traces the function; Python control flow on "
        "tensor values (if, while, float(), .item(), NumPy calls) cannot be traced. Compute on tensors "
        "(tensorjit.where, maximum, ...) or pass the value as a non-array argument, which is static",
        asked_for, type_text(t)));
  return t;
}

std::vector<int64_t> axes_argument(const py::object& axis, int rank) {
  if (axis.is_none()) {
    std::vector<int64_t> all;
    for (int d = 0; d < rank; ++d) all.push_back(d);
    return all;
  }
  if (py::isinstance<py::int_>(axis)) return {axis.cast<int64_t>()};
  return axis.cast<std::vector<int64_t>>();
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor> cls(m, "Tensor", "A tensor: concrete (holds values) or, inside tensorjit.jit, traced.");
  cls.def(py::init([](const py::object& value) { return operand(value); }), py::arg("value"),
          "Wraps a NumPy array or torch tensor without copying; a number becomes a float32 scalar.");
  cls.attr("__array_ufunc__") = py::none();  // NumPy operators defer to ours
  cls.attr("__array_priority__") = 1000;

  cls.def_property_readonly("shape", shape_tuple);
  cls.def_property_readonly("dtype", [](const Tensor& t) { return numpy_dtype(t.dtype()); });
  cls.def_property_readonly("ndim", &Tensor::rank);
  cls.def_property_readonly("size", &Tensor::numel);
  cls.def_property_readonly("is_traced", &Tensor::is_traced);
  cls.def_property_readonly("T", [](const Tensor& t) { return t.transpose(reversed_axes(t.rank())); });
  cls.def("__len__", [](const Tensor& t) {
    if (t.rank() == 0) throw py::type_error("len() of a 0-d tensorjit.Tensor");
    return t.shape()[0];
  });
  cls.def("__repr__", repr);

  // Values (concrete tensors only).
  cls.def("numpy", [](const Tensor& t) { return to_numpy(concrete(t, "numpy()")); }, "The values as a NumPy array sharing memory.");
  cls.def("__array__", [](const Tensor& t, const py::object& dtype) {
        py::object a = to_numpy(concrete(t, "np.asarray()"));
        return dtype.is_none() ? a : a.attr("astype")(dtype);
      }, py::arg("dtype") = py::none());
  cls.def("item", [](const Tensor& t) { return concrete(t, "item()").item(); });
  cls.def("__float__", [](const Tensor& t) { return concrete(t, "float()").item(); });
  cls.def("__int__", [](const Tensor& t) { return static_cast<int64_t>(concrete(t, "int()").item()); });
  cls.def("__bool__", [](const Tensor& t) { return concrete(t, "bool()").item() != 0; });
  cls.def("tolist", [](const Tensor& t) { return to_numpy(concrete(t, "tolist()")).attr("tolist")(); });

  for (const auto& [name, fn, reflected] : kOperators) {
    cls.def(name, [fn = fn, reflected = reflected](const Tensor& self, const py::object& other) {
      return binary(self, other, fn, reflected);
    }, py::is_operator());
  }
  cls.attr("__hash__") = py::none();  // == is elementwise
  cls.def("__neg__", [](const Tensor& t) { return -t; });
  cls.def("__pos__", [](const Tensor& t) { return t; });
  cls.def("__abs__", [](const Tensor& t) { return abs(t); });
  cls.def("__getitem__", index);

  for (const auto& [name, fn] : kUnaryMethods) cls.def(name, fn);
  for (const auto& [name, method] : kReductions) {
    cls.def(name, [method = method](const Tensor& t, const py::object& axis, bool keepdims) {
      return (t.*method)(axes_argument(axis, t.rank()), keepdims);
    }, py::arg("axis") = py::none(), py::arg("keepdims") = false);
  }
  cls.def("reshape", [](const Tensor& t, const py::args& shape) { return t.reshape(int_list(shape)); });
  cls.def("transpose", [](const Tensor& t, const py::args& axes) {
    return t.transpose(axes.empty() ? reversed_axes(t.rank()) : int_list(axes));
  });
  cls.def("swapaxes", py::overload_cast<int64_t, int64_t>(&Tensor::transpose, py::const_));
  cls.def("broadcast_to", [](const Tensor& t, const std::vector<int64_t>& shape) { return t.broadcast_to(shape); });
  cls.def("astype", [](const Tensor& t, const py::object& dtype) { return cast(t, parse_dtype_argument(dtype)); });
  cls.def("contiguous", &Tensor::contiguous);
  cls.def("softmax", [](const Tensor& t, int64_t axis) { return softmax(t, axis); }, py::arg("axis") = -1);
}

}  // namespace tj::python
