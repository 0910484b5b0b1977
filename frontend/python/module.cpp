// The `tensorjit._tensorjit` extension module: exceptions, then the bound
// classes and functions. The public API is the `tensorjit` package around it.
#include "frontend/python/bindings.h"

PYBIND11_MODULE(_tensorjit, m) {
  namespace py = pybind11;
  using namespace tj::python;
  m.doc() = "tensorjit's C++ core; use the `tensorjit` package.";
  // Translators run newest first: TracingError before the Error it extends.
  static py::exception<tj::Error> error(m, "Error", PyExc_ValueError);
  static py::exception<TracingError> tracing_error(m, "TracingError", error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TracingError& e) {
      tracing_error(e.what());
    } catch (const tj::Error& e) {
      error(e.what());
    }
  });
  bind_tensor(m);
  bind_ops(m);
  bind_jit(m);
}
