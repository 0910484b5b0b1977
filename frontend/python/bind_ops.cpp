// The module functions: every op and composite under NumPy's names (and the
// torch spellings people type anyway), taking NumPy arrays, torch tensors,
// tensorjit.Tensors or numbers, and returning tensorjit.Tensor.
#include <pybind11/stl.h>

#include "frontend/python/bindings.h"
#include "frontend/python/convert.h"
#include "runtime/parallel.h"
#include "tensorjit/ops.h"

namespace tj::python {

namespace {

using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

struct NamedUnary {
  const char* name;
  UnaryFn fn;
};
constexpr NamedUnary kUnary[] = {
    {"exp", exp},         {"log", log},       {"tanh", tanh},   {"sigmoid", sigmoid}, {"relu", relu},
    {"sqrt", sqrt},       {"rsqrt", rsqrt},   {"erf", erf},     {"abs", abs},         {"absolute", abs},
    {"negative", neg},    {"neg", neg},       {"silu", silu},   {"reciprocal", reciprocal},
};

struct NamedBinary {
  const char* name;
  BinaryFn fn;
};
constexpr NamedBinary kBinary[] = {
    {"add", add},          {"subtract", sub},     {"sub", sub},          {"multiply", mul},
    {"mul", mul},          {"divide", div},       {"true_divide", div},  {"div", div},
    {"maximum", maximum},  {"minimum", minimum},  {"power", pow},        {"pow", pow},
    {"matmul", matmul},
    {"equal", [](const Tensor& a, const Tensor& b) { return a == b; }},
    {"not_equal", [](const Tensor& a, const Tensor& b) { return a != b; }},
    {"less", [](const Tensor& a, const Tensor& b) { return a < b; }},
    {"less_equal", [](const Tensor& a, const Tensor& b) { return a <= b; }},
    {"greater", [](const Tensor& a, const Tensor& b) { return a > b; }},
    {"greater_equal", [](const Tensor& a, const Tensor& b) { return a >= b; }},
};

// Operands of a binary op: arrays first, so that a number takes the array's dtype.
std::pair<Tensor, Tensor> operands(const py::object& a, const py::object& b) {
  if (is_array(a)) {
    Tensor ta = operand(a);
    return {ta, operand(b, &ta)};
  }
  Tensor tb = operand(b);
  return {operand(a, &tb), tb};
}

using ReduceMethod = Tensor (Tensor::*)(std::vector<int64_t>, bool) const;
struct NamedReduction {
  const char* name;
  ReduceMethod method;
};
constexpr NamedReduction kReductions[] = {
    {"sum", &Tensor::sum}, {"mean", &Tensor::mean}, {"max", &Tensor::max}, {"amax", &Tensor::max},
    {"min", &Tensor::min}, {"amin", &Tensor::min},
};

DType dtype_or_f32(const py::object& dtype) { return dtype.is_none() ? DType::f32 : parse_dtype_argument(dtype); }

}  // namespace

void bind_ops(py::module_& m) {
  for (const auto& [name, fn] : kUnary)
    m.def(name, [fn = fn](const py::object& x) { return fn(operand(x)); }, py::arg("x"));
  for (const auto& [name, fn] : kBinary) {
    m.def(name, [fn = fn](const py::object& a, const py::object& b) {
      auto [ta, tb] = operands(a, b);
      return fn(ta, tb);
    }, py::arg("a"), py::arg("b"));
  }
  for (const auto& [name, method] : kReductions) {
    m.def(name, [method = method](const py::object& x, const py::object& axis, bool keepdims) {
      const Tensor t = operand(x);
      return (t.*method)(axes_argument(axis, t.rank()), keepdims);
    }, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false);
  }

  m.def("where", [](const py::object& condition, const py::object& a, const py::object& b) {
    auto [ta, tb] = operands(a, b);
    return where(operand(condition), ta, tb);
  }, py::arg("condition"), py::arg("a"), py::arg("b"));
  m.def("concatenate", [](const std::vector<py::object>& parts, int64_t axis) {
    std::vector<Tensor> tensors;
    for (const py::object& p : parts) tensors.push_back(operand(p));
    return concat(tensors, axis);
  }, py::arg("arrays"), py::arg("axis") = 0);
  m.def("astype", [](const py::object& x, const py::object& dtype) { return cast(operand(x), parse_dtype_argument(dtype)); },
        py::arg("x"), py::arg("dtype"));
  m.def("reshape", [](const py::object& x, const std::vector<int64_t>& shape) { return operand(x).reshape(shape); },
        py::arg("x"), py::arg("shape"));
  m.def("transpose", [](const py::object& x, const py::object& axes) {
    const Tensor t = operand(x);
    if (!axes.is_none()) return t.transpose(axes.cast<std::vector<int64_t>>());
    std::vector<int64_t> reversed;
    for (int d = t.rank() - 1; d >= 0; --d) reversed.push_back(d);
    return t.transpose(reversed);
  }, py::arg("x"), py::arg("axes") = py::none());
  m.def("broadcast_to", [](const py::object& x, const std::vector<int64_t>& shape) { return operand(x).broadcast_to(shape); },
        py::arg("x"), py::arg("shape"));

  m.def("softmax", [](const py::object& x, int64_t axis) { return softmax(operand(x), axis); }, py::arg("x"), py::arg("axis") = -1);
  m.def("log_softmax", [](const py::object& x, int64_t axis) { return log_softmax(operand(x), axis); }, py::arg("x"),
        py::arg("axis") = -1);
  m.def("layer_norm", [](const py::object& x, const py::object& weight, const py::object& bias, double eps) {
    const Tensor t = operand(x);
    const Tensor gamma = weight.is_none() ? Tensor::scalar(1.0, t.dtype()) : operand(weight, &t);
    const Tensor beta = bias.is_none() ? Tensor::scalar(0.0, t.dtype()) : operand(bias, &t);
    return layer_norm(t, gamma, beta, eps);
  }, py::arg("x"), py::arg("weight") = py::none(), py::arg("bias") = py::none(), py::arg("eps") = 1e-5,
     "Layer norm over the last axis (torch.nn.functional.layer_norm with normalized_shape = x.shape[-1:]).");
  m.def("gelu", [](const py::object& x, const std::string& approximate) {
    if (approximate != "none" && approximate != "tanh") fail("gelu: approximate='{}'; use 'none' (erf) or 'tanh'", approximate);
    return gelu(operand(x), approximate == "tanh");
  }, py::arg("x"), py::arg("approximate") = "none");
  m.def("linear", [](const py::object& x, const py::object& weight, const py::object& bias) {
    const Tensor t = operand(x);
    return linear(t, operand(weight, &t), bias.is_none() ? Tensor() : operand(bias, &t));
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), "x @ weight.T + bias, as torch.nn.functional.linear.");

  m.def("tensor", [](const py::object& value, const py::object& dtype) {
    const Tensor t = operand(value);
    return dtype.is_none() || parse_dtype_argument(dtype) == t.dtype() ? t : cast(t, parse_dtype_argument(dtype));
  }, py::arg("value"), py::arg("dtype") = py::none(), "An array (shared, not copied) or a number as a tensorjit.Tensor.");
  m.def("zeros", [](const std::vector<int64_t>& shape, const py::object& dtype) { return Tensor::zeros(shape, dtype_or_f32(dtype)); },
        py::arg("shape"), py::arg("dtype") = py::none());
  m.def("ones", [](const std::vector<int64_t>& shape, const py::object& dtype) { return Tensor::full(shape, 1.0, dtype_or_f32(dtype)); },
        py::arg("shape"), py::arg("dtype") = py::none());
  m.def("full", [](const std::vector<int64_t>& shape, double value, const py::object& dtype) {
    return Tensor::full(shape, value, dtype_or_f32(dtype));
  }, py::arg("shape"), py::arg("fill_value"), py::arg("dtype") = py::none());
  m.def("randn", [](const std::vector<int64_t>& shape, uint64_t seed, const py::object& dtype) {
    return Tensor::randn(shape, seed, dtype_or_f32(dtype));
  }, py::arg("shape"), py::arg("seed") = 0, py::arg("dtype") = py::none());

  m.def("set_num_threads", &set_num_threads, py::arg("threads"), "Threads for compiled kernels (0: all cores).");
  m.def("get_num_threads", &num_threads);
}

}  // namespace tj::python
