// Shape arithmetic and NumPy broadcasting.
#include "ir/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tj {

std::string shape_to_string(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

std::string type_to_string(const TensorType& type) {
  return fmt::format("{}{}", dtype_name(type.dtype), shape_to_string(type.shape));
}

std::optional<int64_t> checked_numel(const Shape& shape) {
  if (shape.size() > static_cast<size_t>(kMaxRank)) return std::nullopt;
  int64_t total = 1;
  bool has_zero = false;
  for (int64_t dim : shape) {
    if (dim < 0 || dim > kMaxElements) return std::nullopt;
    if (dim == 0) has_zero = true;
    // A zero dim makes the product 0, but the other dims must still be sane.
    if (!has_zero && dim != 0 && total > kMaxElements / dim) return std::nullopt;
    if (!has_zero) total *= dim;
  }
  return has_zero ? 0 : total;
}

int64_t numel(const Shape& shape) {
  int64_t total = 1;
  for (int64_t dim : shape) total *= dim;
  return total;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i] == 0 ? 1 : shape[i];
  }
  return strides;
}

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::optional<int> normalize_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return std::nullopt;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace tj

namespace tj {

SliceDim normalize_slice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  auto clamp = [](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
  if (start < 0) start += dim;  // start >= INT64_MIN and dim >= 0: no overflow
  if (end < 0) end += dim;
  if (step > 0) {
    start = clamp(start, 0, dim);
    end = clamp(end, 0, dim);
    return {start, end > start ? (end - start + step - 1) / step : 0};
  }
  start = clamp(start, -1, dim - 1);
  end = clamp(end, -1, dim - 1);
  return {start, start > end ? (start - end - step - 1) / -step : 0};
}

}  // namespace tj
