// Array: a strided host tensor value (dtype, shape, element strides, offset
// into refcounted storage: 64-byte aligned when allocated here, and aligned
// to the element size in every view, which Array::view checks, so that
// kernels and the interpreter may read elements through typed pointers). It
// is what the reference interpreter computes on, what `.npy` files load
// into, and what tensor constants hold. Views share storage; nothing here is mutable by design
// except through `mutable_data` on freshly allocated arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "ir/shape.h"

namespace tj {

class Array {
 public:
  Array() = default;
  // A new contiguous array, zero-filled. Throws tj::Error if the shape is
  // invalid or the bytes exceed what this machine could ever hold.
  static Array zeros(DType dtype, const Shape& shape);
  // A view of existing storage (no copy).
  static Array view(std::shared_ptr<void> storage, DType dtype, Shape shape, Strides strides,
                    int64_t offset);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return tj::numel(shape_); }
  TensorType type() const { return {dtype_, shape_}; }
  const std::shared_ptr<void>& storage() const { return storage_; }

  bool is_contiguous() const;
  Array contiguous() const;  // itself if already contiguous, else a dense copy
  Array copy() const;        // a dense copy, with storage of its own

  // Address of the element at `element_offset` (in elements, relative to storage start).
  const std::byte* at(int64_t element_offset) const {
    return static_cast<const std::byte*>(storage_.get()) + element_offset * dtype_size(dtype_);
  }
  std::byte* mutable_at(int64_t element_offset) const {
    return static_cast<std::byte*>(storage_.get()) + element_offset * dtype_size(dtype_);
  }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(at(offset_)); }
  template <typename T>
  T* mutable_data() const { return reinterpret_cast<T*>(mutable_at(offset_)); }

  // Views.
  Array with_layout(Shape shape, Strides strides, int64_t offset) const;

 private:
  DType dtype_ = DType::f32;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  std::shared_ptr<void> storage_;
};

// A value of type T at p, whatever p's alignment.
template <typename T>
T load_scalar(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// Scalar conversions used by the interpreter and by constant splats. Floats
// travel as double, integers and bools as int64. Writing a double into an
// integer dtype truncates toward zero; NaN, Inf and out-of-range values give
// the type's minimum (what x86's cvtt* instructions and thus NumPy/PyTorch
// produce) instead of undefined behaviour.
// (read_double is inline: the interpreter's reductions and matmuls read every element through it.)
inline double read_double(const std::byte* p, DType dtype) {
  switch (dtype) {
    case DType::f32: return load_scalar<float>(p);
    case DType::f64: return load_scalar<double>(p);
    case DType::i32: return load_scalar<int32_t>(p);
    case DType::i64: return static_cast<double>(load_scalar<int64_t>(p));
    case DType::boolean: return load_scalar<uint8_t>(p) != 0;
  }
  return 0;
}
int64_t read_int(const std::byte* p, DType dtype);
void write_double(std::byte* p, DType dtype, double value);
void write_int(std::byte* p, DType dtype, int64_t value);
int64_t double_to_int(double value, DType dtype);

// Element-wise equality of values (same dtype and shape, NaN == NaN); for tests.
bool arrays_identical(const Array& a, const Array& b);

// Calls fn(index, offset) for every element in C order; offset in elements.
template <typename Fn>
void for_each_offset(const Shape& shape, const Strides& strides, int64_t offset, Fn&& fn) {
  const int rank = static_cast<int>(shape.size());
  const int64_t total = tj::numel(shape);
  Shape index(rank, 0);
  for (int64_t n = 0; n < total; ++n) {
    fn(n, offset);
    for (int d = rank - 1; d >= 0; --d) {
      offset += strides[d];
      if (++index[d] < shape[d]) break;
      offset -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace tj
