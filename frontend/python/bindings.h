// The pieces of the `tensorjit._tensorjit` extension module, one file each:
// the Tensor class, the op functions, and jit. module.cpp puts them together.
#pragma once

#include <optional>
#include <vector>

#include <pybind11/pybind11.h>

#include "ir/error.h"
#include "tensorjit/tensor.h"

namespace tj::python {

namespace py = pybind11;

// Raised (as tensorjit.TracingError) when a traced value is read as a Python
// value: `if x.sum() > 0:`, float(x), x.item(), np.asarray(x) inside jit.
class TracingError : public Error {
 public:
  using Error::Error;
};

void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_jit(py::module_& m);

// NumPy-style `axis` arguments: None (all axes), an int, or a tuple of ints.
std::vector<int64_t> axes_argument(const py::object& axis, int rank);

// The concrete value of `t`, or a TracingError saying why a traced tensor has none.
const Tensor& concrete(const Tensor& t, const char* asked_for);

}  // namespace tj::python
