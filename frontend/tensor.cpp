// tj::Tensor: construction, inspection, views and reductions.
#include <cstring>

#include <fmt/format.h>

#include "frontend/dispatch.h"
#include "frontend/tensor_impl.h"
#include "ir/error.h"
#include "runtime/random.h"

namespace tj {

namespace {

std::vector<int64_t> all_axes_if_empty(std::vector<int64_t> axes, int rank) {
  if (!axes.empty()) return axes;
  for (int i = 0; i < rank; ++i) axes.push_back(i);
  return axes;
}

Tensor reduce(Op op, const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  if (!x.defined()) fail("{}: the tensor is undefined", op_name(op));
  return apply(op, {x}, {{"axes", all_axes_if_empty(std::move(axes), x.rank())}, {"keepdim", keepdim}});
}

}  // namespace

Tensor Tensor::from_array(Array array) {
  auto impl = std::make_shared<TensorImpl>();
  impl->type = array.type();
  impl->value = std::move(array);
  return Tensor(impl);
}

Tensor Tensor::from_blob(void* data, Shape shape, DType dtype, Strides strides) {
  const std::optional<int64_t> count = checked_numel(shape);
  if (!count) fail("from_blob: invalid shape {}", shape_to_string(shape));
  if (!data && *count > 0) fail("from_blob: data is null for a {} tensor", type_to_string({dtype, shape}));
  if (reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) != 0)
    fail("from_blob: data {} is not aligned to {} bytes as {} needs", data, dtype_size(dtype), dtype_name(dtype));
  if (strides.empty()) strides = contiguous_strides(shape);
  if (strides.size() != shape.size())
    fail("from_blob: {} strides for a rank-{} shape {}", strides.size(), shape.size(), shape_to_string(shape));
  // The caller owns the memory: a no-op deleter.
  std::shared_ptr<void> storage(data, [](void*) {});
  return from_array(Array::view(storage, dtype, std::move(shape), std::move(strides), 0));
}

Tensor Tensor::empty(Shape shape, DType dtype) { return from_array(Array::zeros(dtype, shape)); }
Tensor Tensor::zeros(Shape shape, DType dtype) { return from_array(Array::zeros(dtype, shape)); }

Tensor Tensor::full(Shape shape, double value, DType dtype) {
  Array a = Array::zeros(dtype, shape);
  const int64_t size = dtype_size(dtype);
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (is_float(dtype)) write_double(a.mutable_at(0) + i * size, dtype, value);
    else write_int(a.mutable_at(0) + i * size, dtype, static_cast<int64_t>(value));
  }
  return from_array(a);
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::randn(Shape shape, uint64_t seed, DType dtype) { return from_array(random_array({dtype, shape}, seed)); }

const std::shared_ptr<TensorImpl>& Tensor::impl() const {
  if (!impl_) fail("use of an undefined tensor");
  return impl_;
}

bool Tensor::is_traced() const { return impl()->tracer != nullptr; }
const Shape& Tensor::shape() const { return impl()->type.shape; }
DType Tensor::dtype() const { return impl()->type.dtype; }

const Array& Tensor::array() const {
  if (is_traced() && !impl()->tracer->active())
    fail("a traced tensor ({}) escaped from its jit function and has no value", type_to_string(impl()->type));
  if (is_traced())
    fail("value-dependent control flow cannot be traced: tensor %{} ({}) has no value while tracing; "
         "compute on tensors (e.g. tj::where) instead of reading their values",
         impl()->node->name, type_to_string(impl()->type));
  return impl()->value;
}

Strides Tensor::strides() const { return array().strides(); }

void* Tensor::raw_data(size_t element_size) const {
  const Array& a = array();
  if (static_cast<int64_t>(element_size) != dtype_size(a.dtype()))
    fail("data<T>(): T has {} bytes but the tensor is {}", element_size, dtype_name(a.dtype()));
  return a.mutable_at(a.offset());
}

double Tensor::item() const {
  const Array& a = array();
  if (a.numel() != 1) fail("item(): the tensor has {} elements, not one ({})", a.numel(), type_to_string(a.type()));
  return is_float(a.dtype()) ? read_double(a.at(a.offset()), a.dtype()) : static_cast<double>(read_int(a.at(a.offset()), a.dtype()));
}

Tensor Tensor::contiguous() const {
  if (is_traced()) return *this;
  return array().is_contiguous() ? *this : from_array(array().contiguous());
}

Tensor Tensor::reshape(Shape shape) const { return apply(Op::reshape, {*this}, {{"shape", shape}}); }
Tensor Tensor::transpose(std::vector<int64_t> perm) const { return apply(Op::transpose, {*this}, {{"perm", perm}}); }

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  std::vector<int64_t> perm;
  for (int i = 0; i < rank(); ++i) perm.push_back(i);
  const std::optional<int> a = normalize_axis(dim0, rank()), b = normalize_axis(dim1, rank());
  if (!a || !b) fail("transpose: dims {} and {} are out of range for {}", dim0, dim1, type_to_string(impl()->type));
  std::swap(perm[*a], perm[*b]);
  return transpose(perm);
}

Tensor Tensor::T() const {
  if (rank() < 2) fail("T(): needs rank 2 or more, got {}", type_to_string(impl()->type));
  return transpose(-2, -1);
}

Tensor Tensor::slice(std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> steps) const {
  Attrs attrs{{"starts", starts}, {"ends", ends}};
  if (!steps.empty()) attrs["steps"] = steps;
  return apply(Op::slice, {*this}, attrs);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  const std::optional<int> a = normalize_axis(axis, rank());
  if (!a) fail("slice: axis {} is out of range for {}", axis, type_to_string(impl()->type));
  std::vector<int64_t> starts(rank(), 0), ends(shape().begin(), shape().end()), steps(rank(), 1);
  starts[*a] = start;
  ends[*a] = end;
  steps[*a] = step;
  return slice(starts, ends, steps);
}

Tensor Tensor::broadcast_to(Shape shape) const { return apply(Op::broadcast, {*this}, {{"shape", shape}}); }

Tensor Tensor::sum(std::vector<int64_t> axes, bool keepdim) const { return reduce(Op::sum, *this, std::move(axes), keepdim); }
Tensor Tensor::mean(std::vector<int64_t> axes, bool keepdim) const { return reduce(Op::mean, *this, std::move(axes), keepdim); }
Tensor Tensor::max(std::vector<int64_t> axes, bool keepdim) const { return reduce(Op::max, *this, std::move(axes), keepdim); }
Tensor Tensor::min(std::vector<int64_t> axes, bool keepdim) const { return reduce(Op::min, *this, std::move(axes), keepdim); }

std::string Tensor::to_string() const {
  if (!impl_) return "Tensor(undefined)";
  if (is_traced()) return fmt::format("Tensor(traced: {})", type_to_string(impl_->type));
  return fmt::format("Tensor({})", type_to_string(impl_->type));
}

}  // namespace tj
