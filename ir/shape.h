// Shapes, strides and NumPy broadcasting; TensorType = dtype + shape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/dtype.h"

namespace tj {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;  // in elements, may be 0 (broadcast) or negative

// Limits that keep every shape arithmetic in int64 without overflow, and keep
// a malformed program from asking for absurd amounts of anything.
inline constexpr int kMaxRank = 16;
inline constexpr int64_t kMaxElements = int64_t{1} << 48;

std::string shape_to_string(const Shape& shape);  // "[4,8]", "[]" for a scalar

// Product of dims; nullopt when a dim is negative or the product exceeds kMaxElements.
std::optional<int64_t> checked_numel(const Shape& shape);
int64_t numel(const Shape& shape);  // for shapes already checked

Strides contiguous_strides(const Shape& shape);

// NumPy broadcasting of two shapes (align right; 1 stretches); nullopt if incompatible.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// Maps axis in [-rank, rank) to [0, rank); nullopt when out of range.
std::optional<int> normalize_axis(int64_t axis, int rank);

struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int rank() const { return static_cast<int>(shape.size()); }
  bool operator==(const TensorType&) const = default;
};

std::string type_to_string(const TensorType& type);  // "f32[4,8]"

}  // namespace tj

namespace tj {

// One axis of a slice with Python semantics (negative indices count from the
// end, out-of-range bounds clamp, step may be negative but not 0).
struct SliceDim {
  int64_t start;   // first index taken
  int64_t length;  // number of elements taken
};
SliceDim normalize_slice(int64_t start, int64_t end, int64_t step, int64_t dim);

}  // namespace tj
