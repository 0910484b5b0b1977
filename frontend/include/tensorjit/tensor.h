// tj::Tensor: shape, dtype, strides and refcounted storage (design §2). A
// tensor is concrete (it holds values; ops on it run at once) or, inside
// tj::jit, traced (it stands for a value of the graph being built).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/array.h"
#include "ir/dtype.h"
#include "ir/error.h"
#include "ir/shape.h"

namespace tj {

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor; using it is an error

  // Wraps caller memory without copying; the caller keeps it alive. Strides
  // are in elements (empty: C order). Null or misaligned data is an error.
  static Tensor from_blob(void* data, Shape shape, DType dtype = DType::f32, Strides strides = {});
  static Tensor empty(Shape shape, DType dtype = DType::f32);
  static Tensor zeros(Shape shape, DType dtype = DType::f32);
  static Tensor full(Shape shape, double value, DType dtype = DType::f32);
  static Tensor randn(Shape shape, uint64_t seed = 0, DType dtype = DType::f32);
  static Tensor scalar(double value, DType dtype = DType::f32);
  static Tensor from_array(Array array);

  bool defined() const { return impl_ != nullptr; }
  bool is_traced() const;
  const Shape& shape() const;
  DType dtype() const;
  int rank() const { return static_cast<int>(shape().size()); }
  int64_t numel() const { return tj::numel(shape()); }
  Strides strides() const;  // concrete tensors only

  // Values. On a traced tensor these raise tj::Error: a traced function
  // cannot branch on the values it computes.
  template <typename T>
  T* data() { return static_cast<T*>(raw_data(sizeof(T))); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(raw_data(sizeof(T))); }
  double item() const;  // the value of a one-element tensor
  explicit operator bool() const { return item() != 0; }
  const Array& array() const;  // concrete tensors only
  Tensor contiguous() const;

  // Views (no copy for concrete tensors).
  Tensor reshape(Shape shape) const;
  Tensor transpose(std::vector<int64_t> perm) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;  // swaps two dims
  Tensor T() const;                                  // swaps the last two dims
  Tensor slice(std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> steps = {}) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;  // one axis
  Tensor broadcast_to(Shape shape) const;

  // Reductions; empty axes = all axes.
  Tensor sum(std::vector<int64_t> axes = {}, bool keepdim = false) const;
  Tensor mean(std::vector<int64_t> axes = {}, bool keepdim = false) const;
  Tensor max(std::vector<int64_t> axes = {}, bool keepdim = false) const;
  Tensor min(std::vector<int64_t> axes = {}, bool keepdim = false) const;

  std::string to_string() const;  // "Tensor(f32[2,3])" or "Tensor(traced %x: f32[2,3])"

  // Internal: the implementation shared by copies of this tensor.
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<TensorImpl>& impl() const;

 private:
  void* raw_data(size_t element_size) const;
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace tj
