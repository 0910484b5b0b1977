// Array storage, layout helpers and scalar conversions.
#include "ir/array.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "ir/aligned_memory.h"
#include "ir/error.h"

namespace tj {

namespace {

int64_t physical_memory_bytes() {
  static const int64_t bytes = [] {  // sysconf is a system call: once per process
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return int64_t{1} << 40;
    return static_cast<int64_t>(pages) * page_size;
  }();
  return bytes;
}

std::shared_ptr<void> allocate(int64_t bytes, const Shape& shape, DType dtype) {
  // Refuse sizes that cannot fit instead of letting the kernel's overcommit
  // turn them into an OOM kill later.
  if (bytes > physical_memory_bytes())
    fail("cannot allocate {} bytes for {}: more than this machine's memory", bytes,
         type_to_string({dtype, shape}));
  const size_t rounded = static_cast<size_t>((bytes + 63) / 64 * 64 + 64);
  void* p = allocate_aligned(rounded);
  if (!p) fail("cannot allocate {} bytes for {}", bytes, type_to_string({dtype, shape}));
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, std::free);
}

template <typename T>
T clamp_to(double value) {
  // NaN and values outside T's range give T's minimum, like x86 cvttsd2si.
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = -lo;  // 2^31 or 2^63, exactly representable
  if (!(value >= lo && value < hi)) return std::numeric_limits<T>::min();
  return static_cast<T>(value);
}

}  // namespace

Array Array::zeros(DType dtype, const Shape& shape) {
  const std::optional<int64_t> count = checked_numel(shape);
  if (!count) fail("invalid shape {} for an array", shape_to_string(shape));
  Array a;
  a.dtype_ = dtype;
  a.shape_ = shape;
  a.strides_ = contiguous_strides(shape);
  a.storage_ = allocate(*count * dtype_size(dtype), shape, dtype);
  return a;
}

Array Array::view(std::shared_ptr<void> storage, DType dtype, Shape shape, Strides strides,
                  int64_t offset) {
  if (reinterpret_cast<uintptr_t>(storage.get()) % dtype_size(dtype) != 0)  // the entry points copy or refuse such data
    fail("Array::view: storage at {} is not aligned to the {} bytes of {}", storage.get(), dtype_size(dtype), dtype_name(dtype));
  Array a;
  a.dtype_ = dtype;
  a.shape_ = std::move(shape);
  a.strides_ = std::move(strides);
  a.offset_ = offset;
  a.storage_ = std::move(storage);
  return a;
}

Array Array::with_layout(Shape shape, Strides strides, int64_t offset) const {
  return view(storage_, dtype_, std::move(shape), std::move(strides), offset);
}

bool Array::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

Array Array::contiguous() const { return is_contiguous() ? *this : copy(); }

Array Array::copy() const {
  Array out = zeros(dtype_, shape_);
  const int64_t size = dtype_size(dtype_);
  std::byte* dst = out.mutable_at(0);
  for_each_offset(shape_, strides_, offset_, [&](int64_t n, int64_t off) {
    std::memcpy(dst + n * size, at(off), size);
  });
  return out;
}

template <typename T>
static void store(std::byte* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

int64_t read_int(const std::byte* p, DType dtype) {
  switch (dtype) {
    case DType::f32: return double_to_int(load_scalar<float>(p), DType::i64);
    case DType::f64: return double_to_int(load_scalar<double>(p), DType::i64);
    case DType::i32: return load_scalar<int32_t>(p);
    case DType::i64: return load_scalar<int64_t>(p);
    case DType::boolean: return load_scalar<uint8_t>(p) != 0;
  }
  return 0;
}

int64_t double_to_int(double value, DType dtype) {
  return dtype == DType::i32 ? clamp_to<int32_t>(value) : clamp_to<int64_t>(value);
}

void write_double(std::byte* p, DType dtype, double value) {
  switch (dtype) {
    case DType::f32: return store<float>(p, static_cast<float>(value));
    case DType::f64: return store<double>(p, value);
    case DType::i32: return store<int32_t>(p, clamp_to<int32_t>(value));
    case DType::i64: return store<int64_t>(p, clamp_to<int64_t>(value));
    case DType::boolean: return store<uint8_t>(p, value != 0 ? 1 : 0);  // NaN != 0: true
  }
}

void write_int(std::byte* p, DType dtype, int64_t value) {
  switch (dtype) {
    case DType::f32: return store<float>(p, static_cast<float>(value));
    case DType::f64: return store<double>(p, static_cast<double>(value));
    case DType::i32: return store<int32_t>(p, static_cast<int32_t>(static_cast<uint32_t>(value)));
    case DType::i64: return store<int64_t>(p, value);
    case DType::boolean: return store<uint8_t>(p, value != 0 ? 1 : 0);
  }
}

bool arrays_identical(const Array& a, const Array& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Array ca = a.contiguous(), cb = b.contiguous();
  const int64_t n = ca.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (is_float(a.dtype())) {
      const double x = read_double(ca.at(ca.offset() + i), a.dtype());
      const double y = read_double(cb.at(cb.offset() + i), b.dtype());
      if (!(x == y || (std::isnan(x) && std::isnan(y)))) return false;
    } else if (read_int(ca.at(ca.offset() + i), a.dtype()) !=
               read_int(cb.at(cb.offset() + i), b.dtype())) {
      return false;
    }
  }
  return true;
}

}  // namespace tj
