// NumPy-style printing of arrays for the command-line tool.
#include "tools/format_array.h"

#include <cmath>

#include <fmt/format.h>

namespace tj {

namespace {

constexpr int64_t kEdgeItems = 3;
constexpr int64_t kSummariseAbove = 1000;

std::string format_element(const Array& a, int64_t offset) {
  const std::byte* p = a.at(offset);
  switch (a.dtype()) {
    case DType::f32: return fmt::format("{:.6g}", read_double(p, a.dtype()));
    case DType::f64: return fmt::format("{:.8g}", read_double(p, a.dtype()));
    case DType::boolean: return read_int(p, a.dtype()) ? "true" : "false";
    default: return std::to_string(read_int(p, a.dtype()));
  }
}

void format_axis(const Array& a, int axis, int64_t offset, bool summarise, std::string& out) {
  if (axis == a.rank()) {
    out += format_element(a, offset);
    return;
  }
  const int64_t n = a.shape()[axis];
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      out += axis + 1 == a.rank() ? "..., " : "...,\n" + std::string(axis + 1, ' ');
      i = n - kEdgeItems;
    }
    format_axis(a, axis + 1, offset + i * a.strides()[axis], summarise, out);
    if (i + 1 < n) out += axis + 1 == a.rank() ? ", " : (",\n" + std::string(axis + 1, ' '));
  }
  out += ']';
}

}  // namespace

std::string format_array(const Array& array) {
  std::string out;
  format_axis(array, 0, array.offset(), array.numel() > kSummariseAbove, out);
  return out;
}

}  // namespace tj
