// Zero-copy conversion between Python arrays and tj::Tensor (see convert.h).
#include "frontend/python/convert.h"

#include <cstring>

#include <pybind11/numpy.h>

#include "frontend/python/dlpack_abi.h"
#include "frontend/tensor_impl.h"
#include "ir/error.h"

namespace tj::python {

namespace {

// One row per dtype: how NumPy and DLPack spell it.
struct DTypeSpelling {
  DType dtype;
  const char* numpy_name;
  char numpy_kind;
  int64_t bytes;
  uint8_t dlpack_code;
};
constexpr DTypeSpelling kSpellings[] = {
    {DType::f32, "float32", 'f', 4, dlpack::kFloat},
    {DType::f64, "float64", 'f', 8, dlpack::kFloat},
    {DType::i32, "int32", 'i', 4, dlpack::kInt},
    {DType::i64, "int64", 'i', 8, dlpack::kInt},
    {DType::boolean, "bool", 'b', 1, dlpack::kBool},
};
constexpr const char* kSupported = "float32, float64, int32, int64 and bool";

const DTypeSpelling& spelling(DType dtype) {
  for (const DTypeSpelling& s : kSpellings)
    if (s.dtype == dtype) return s;
  fail("internal: dtype {} has no NumPy spelling", dtype_name(dtype));
}

const DTypeSpelling* find_spelling(char kind, int64_t bytes) {
  for (const DTypeSpelling& s : kSpellings)
    if (s.numpy_kind == kind && s.bytes == bytes) return &s;
  return nullptr;
}

bool interpreter_alive() { return Py_IsInitialized() && !_Py_IsFinalizing(); }

// Keeps a Python object alive while a tj storage uses its memory. The last
// reference may drop on any thread, so the deleter takes the GIL.
struct PythonOwner {
  PyObject* object;
  void operator()(void*) const {
    if (!interpreter_alive()) return;  // at exit the memory goes with the interpreter
    py::gil_scoped_acquire gil;
    Py_DECREF(object);
  }
};

// A tensor over memory owned by `keep`, given the address of its first
// element and element strides that may be negative: the storage starts at
// the lowest address the view touches.
Tensor strided_view(std::shared_ptr<void> (*make_storage)(void*, void*), void* keep, std::byte* first,
                    DType dtype, Shape shape, Strides strides) {
  int64_t lowest = 0;
  bool empty = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    empty = empty || shape[d] == 0;
    if (strides[d] < 0) lowest += strides[d] * (shape[d] - 1);
  }
  if (empty) lowest = 0;
  std::byte* base = first + lowest * dtype_size(dtype);
  return Tensor::from_array(Array::view(make_storage(base, keep), dtype, std::move(shape), std::move(strides), -lowest));
}

std::shared_ptr<void> python_storage(void* base, void* object) {
  Py_INCREF(static_cast<PyObject*>(object));
  return std::shared_ptr<void>(base, PythonOwner{static_cast<PyObject*>(object)});
}

std::shared_ptr<void> dlpack_storage(void* base, void* managed) {
  return std::shared_ptr<void>(base, [m = static_cast<dlpack::ManagedTensor*>(managed)](void*) {
    if (m->deleter) m->deleter(m);
  });
}

// --- NumPy ------------------------------------------------------------------

py::object numpy_function(const char* name) { return py::module_::import("numpy").attr(name); }

Tensor from_numpy(py::handle h, const char* what) {
  auto array = py::reinterpret_borrow<py::array>(h);
  const py::dtype dt = array.dtype();
  const DTypeSpelling* s = find_spelling(dt.kind(), dt.itemsize());
  if (!s) fail("{}: NumPy dtype {} is not supported (tensorjit has {})", what, std::string(py::str(static_cast<const py::handle&>(dt))), kSupported);
  const int rank = static_cast<int>(array.ndim());
  const auto address = reinterpret_cast<uintptr_t>(array.data());
  bool describable = address % s->bytes == 0 && dt.attr("isnative").cast<bool>();
  Shape shape(rank);
  Strides strides(rank);
  for (int d = 0; d < rank; ++d) {
    shape[d] = array.shape(d);
    describable = describable && array.strides(d) % s->bytes == 0;
    strides[d] = array.strides(d) / s->bytes;
  }
  if (!describable) {  // byte-swapped, unaligned or odd strides: one native copy
    py::object copy = numpy_function("array")(h, py::arg("dtype") = py::str(s->numpy_name), py::arg("copy") = true);
    return from_numpy(copy, what);  // a fresh array is aligned and native: no second round
  }
  auto* first = static_cast<std::byte*>(const_cast<void*>(array.data()));
  return strided_view(python_storage, h.ptr(), first, s->dtype, std::move(shape), std::move(strides));
}

// --- PyTorch (looked up only once torch is imported; never imported here) --

struct TorchApi {
  PyObject* tensor_type = nullptr;
  py::object bool_dtype, to_dlpack, from_dlpack, from_numpy;
};

TorchApi* torch_api() {
  static TorchApi* api = nullptr;
  if (api) return api;
  PyObject* torch = PyDict_GetItemString(PyImport_GetModuleDict(), "torch");
  if (!torch) return nullptr;
  py::module_ module = py::reinterpret_borrow<py::module_>(torch);
  auto* found = new TorchApi;  // kept for the life of the process, like the module
  found->tensor_type = py::object(module.attr("Tensor")).release().ptr();
  found->bool_dtype = module.attr("bool");
  py::module_ dl = py::module_::import("torch.utils.dlpack");
  found->to_dlpack = dl.attr("to_dlpack");
  // torch.utils.dlpack.from_dlpack without its Python-level checks: we always pass a capsule.
  found->from_dlpack = module.attr("_C").attr("_from_dlpack");
  found->from_numpy = module.attr("from_numpy");
  api = found;
  return api;
}

bool is_torch(py::handle h) {
  TorchApi* api = torch_api();
  return api && PyObject_TypeCheck(h.ptr(), reinterpret_cast<PyTypeObject*>(api->tensor_type));
}

Tensor from_torch(py::handle h, const char* what) {
  TorchApi& api = *torch_api();
  py::object capsule;
  try {
    capsule = api.to_dlpack(h);
  } catch (py::error_already_set&) {  // the rare cases, diagnosed only when they happen
    // torch 1.13 cannot export bool through DLPack; its NumPy bridge shares memory too.
    if (py::object(h.attr("dtype")).is(api.bool_dtype)) return from_numpy(h.attr("numpy")(), what);
    throw;
  }
  auto* managed = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), dlpack::kCapsuleName));
  if (!managed) throw py::error_already_set();
  PyCapsule_SetName(capsule.ptr(), dlpack::kUsedCapsuleName);  // we own it now
  std::shared_ptr<void> owner = dlpack_storage(nullptr, managed);  // frees it on every path below
  const dlpack::Tensor& t = managed->dl_tensor;
  if (t.device.device_type != dlpack::kCPU) fail("{}: the torch tensor is not on the CPU (DLPack device {})", what, t.device.device_type);
  const DTypeSpelling* s = nullptr;
  for (const DTypeSpelling& row : kSpellings)
    if (row.dlpack_code == t.dtype.code && row.bytes * 8 == t.dtype.bits && t.dtype.lanes == 1) s = &row;
  if (!s) fail("{}: torch dtype {} is not supported (tensorjit has {})", what, std::string(py::str(h.attr("dtype"))), kSupported);
  Shape shape(t.shape, t.shape + t.ndim);
  Strides strides = t.strides ? Strides(t.strides, t.strides + t.ndim) : contiguous_strides(shape);
  auto* first = static_cast<std::byte*>(t.data) + t.byte_offset;
  // Strides count elements, but the data itself may sit off its element size
  // (torch.frombuffer at an odd offset): kernels read whole elements, so copy.
  if (reinterpret_cast<uintptr_t>(first) % s->bytes != 0) return from_torch(h.attr("clone")(), what);
  auto share = [](void* base, void* keep) { return std::shared_ptr<void>(*static_cast<std::shared_ptr<void>*>(keep), base); };
  return strided_view(share, &owner, first, s->dtype, std::move(shape), std::move(strides));
}

// Holds what an exported DLPack tensor points into.
struct ExportedTensor {
  dlpack::ManagedTensor managed{};
  std::shared_ptr<void> storage;
  Shape shape;
  Strides strides;
};

Array deep_copy(const Array& a) {
  if (!a.is_contiguous()) return a.contiguous();
  Array copy = Array::zeros(a.dtype(), a.shape());
  if (a.numel() > 0) std::memcpy(copy.mutable_at(0), a.at(a.offset()), a.numel() * dtype_size(a.dtype()));
  return copy;
}

bool has_negative_stride(const Array& a) {
  for (int64_t s : a.strides())
    if (s < 0) return true;
  return false;
}

}  // namespace

const char* numpy_dtype_name(DType dtype) { return spelling(dtype).numpy_name; }

const py::dtype& numpy_dtype(DType dtype) {
  // Parsing a dtype name costs more than the rest of making an array: once per dtype.
  static auto* dtypes = [] {
    auto* made = new std::vector<py::dtype>;  // kept for the life of the process, like NumPy
    for (DType d : kAllDTypes) made->push_back(py::dtype(numpy_dtype_name(d)));
    return made;
  }();
  return (*dtypes)[static_cast<size_t>(dtype)];
}

DType parse_dtype_argument(py::handle h) {
  std::string name = py::isinstance<py::str>(h) ? h.cast<std::string>() : std::string(py::str(h));
  if (name.rfind("torch.", 0) == 0) name = name.substr(6);
  if (!py::isinstance<py::str>(h) && name.rfind("torch", 0) != 0) {  // a NumPy dtype or scalar type
    const py::dtype dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(h));
    if (const DTypeSpelling* s = find_spelling(dt.kind(), dt.itemsize())) return s->dtype;
  }
  for (const DTypeSpelling& s : kSpellings)
    if (name == s.numpy_name || name == dtype_name(s.dtype)) return s.dtype;
  fail("dtype {} is not supported (tensorjit has {})", name, kSupported);
}

bool is_tensor(py::handle h) {
  // py::isinstance<Tensor> looks the type up in a hash table per call; this is on every call's path.
  static PyTypeObject* type = reinterpret_cast<PyTypeObject*>(py::type::of<Tensor>().ptr());
  return PyObject_TypeCheck(h.ptr(), type);
}

bool is_array(py::handle h) { return is_tensor(h) || py::isinstance<py::array>(h) || is_torch(h); }

ArrayKind array_kind(py::handle h) {
  if (is_tensor(h)) return ArrayKind::tensor;
  return py::isinstance<py::array>(h) ? ArrayKind::numpy : ArrayKind::torch;
}

Tensor to_tensor(py::handle h, const char* what) {
  if (is_tensor(h)) return h.cast<Tensor>();
  if (py::isinstance<py::array>(h)) return from_numpy(h, what);
  if (is_torch(h)) return from_torch(h, what);
  fail("{}: expected a NumPy array, a torch tensor or a tensorjit.Tensor, got {}", what,
       std::string(py::str(py::type::handle_of(h).attr("__name__"))));
}

Tensor operand(py::handle h, const Tensor* like) {
  if (is_tensor(h)) return h.cast<Tensor>();
  if (is_array(h)) {
    Tensor t = to_tensor(h, "operand");
    return Tracer::current() ? Tensor::from_array(deep_copy(t.array())) : t;
  }
  if (PyBool_Check(h.ptr()) || PyLong_Check(h.ptr()) || PyFloat_Check(h.ptr()) || PyNumber_Check(h.ptr())) {
    const double value = py::float_(py::reinterpret_borrow<py::object>(h));
    return Tensor::scalar(value, like && like->defined() ? like->dtype() : DType::f32);
  }
  fail("expected an array or a number, got {}", std::string(py::str(py::type::handle_of(h).attr("__name__"))));
}

py::object to_numpy(const Tensor& t) {
  const Array& a = t.array();
  const int64_t bytes = dtype_size(a.dtype());
  std::vector<py::ssize_t> shape(a.shape().begin(), a.shape().end()), strides;
  for (int64_t s : a.strides()) strides.push_back(s * bytes);
  auto* keep = new std::shared_ptr<void>(a.storage());
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<void>*>(p); });
  const void* data = a.numel() > 0 ? a.at(a.offset()) : nullptr;
  return py::array(numpy_dtype(a.dtype()), std::move(shape), std::move(strides), data, base);
}

py::object to_torch(const Tensor& t) {
  TorchApi* api = torch_api();
  if (!api) fail("internal: torch output asked for but torch is not imported");
  Array a = t.array();
  if (has_negative_stride(a)) a = a.contiguous();  // torch has no negative strides
  if (a.dtype() == DType::boolean) return api->from_numpy(to_numpy(Tensor::from_array(a)));
  auto* exported = new ExportedTensor;
  exported->storage = a.storage();
  exported->shape = a.shape();
  exported->strides = a.strides();
  dlpack::Tensor& dl = exported->managed.dl_tensor;
  dl.data = a.numel() > 0 ? const_cast<std::byte*>(a.at(a.offset())) : a.storage().get();
  dl.device = {dlpack::kCPU, 0};
  dl.ndim = a.rank();
  const DTypeSpelling& s = spelling(a.dtype());
  dl.dtype = {s.dlpack_code, static_cast<uint8_t>(s.bytes * 8), 1};
  dl.shape = exported->shape.data();
  dl.strides = exported->strides.data();
  exported->managed.manager_ctx = exported;
  exported->managed.deleter = [](dlpack::ManagedTensor* m) { delete static_cast<ExportedTensor*>(m->manager_ctx); };
  // An unconsumed capsule frees the tensor itself; a consumed one is renamed.
  py::capsule capsule(&exported->managed, dlpack::kCapsuleName, [](PyObject* o) {
    if (PyCapsule_IsValid(o, dlpack::kCapsuleName)) {
      auto* m = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(o, dlpack::kCapsuleName));
      m->deleter(m);
    }
  });
  return api->from_dlpack(capsule);
}

py::object to_python(const Tensor& t, ArrayKind kind) {
  switch (kind) {
    case ArrayKind::numpy: return to_numpy(t);
    case ArrayKind::torch: return to_torch(t);
    case ArrayKind::tensor: return py::cast(t);
  }
  return py::none();
}

}  // namespace tj::python
