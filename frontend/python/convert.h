// Zero-copy conversion between the arrays Python code holds (NumPy arrays,
// PyTorch tensors, tensorjit.Tensor) and tj::Tensor. A tj::Tensor made from
// a Python array shares its memory and keeps the Python object alive; an
// array made from a tj::Tensor shares the tensor's storage and keeps it
// alive. Nothing is copied except where the other side cannot describe the
// layout (unaligned or byte-swapped NumPy data, negative strides for torch,
// bool tensors that torch 1.13 cannot pass through DLPack use NumPy's bridge).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "tensorjit/tensor.h"

namespace tj::python {

namespace py = pybind11;

// The kind of array a jitted function returns: that of its inputs.
enum class ArrayKind { numpy, torch, tensor };

// Whether `h` is an array that converts without a copy: a tensorjit.Tensor,
// a NumPy ndarray or a torch.Tensor.
bool is_array(py::handle h);
bool is_tensor(py::handle h);  // a tensorjit.Tensor
ArrayKind array_kind(py::handle h);  // of an is_array() object

// An array (see is_array) as a tj::Tensor sharing its memory. `what` names
// the value in errors ("argument 2").
Tensor to_tensor(py::handle h, const char* what);

// An operand of an op: an array, or a Python number, which becomes a scalar
// of `like`'s dtype (of f32 when there is no `like`). Arrays captured while
// tracing are copied, so that the trace keeps the values it saw (as jax.jit).
Tensor operand(py::handle h, const Tensor* like = nullptr);

// A concrete tj::Tensor as the array kind asked for, sharing storage.
py::object to_python(const Tensor& t, ArrayKind kind);
py::object to_numpy(const Tensor& t);
py::object to_torch(const Tensor& t);

// "float32", "float64", "int32", "int64", "bool": NumPy's names.
const char* numpy_dtype_name(DType dtype);
const py::dtype& numpy_dtype(DType dtype);
DType parse_dtype_argument(py::handle h);  // a name, a NumPy dtype or a torch dtype

}  // namespace tj::python
