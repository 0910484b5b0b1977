// Element types of tensors: f32, f64, i32, i64, bool.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tj {

enum class DType : uint8_t { f32, f64, i32, i64, boolean };

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f64, DType::i32, DType::i64,
                                       DType::boolean};

std::string_view dtype_name(DType dtype);                 // "f32", ..., "bool"
std::optional<DType> parse_dtype(std::string_view name);  // inverse of dtype_name

// Bytes per element (inline: the interpreter's element loops call it).
constexpr int64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

inline bool is_float(DType dtype) { return dtype == DType::f32 || dtype == DType::f64; }
inline bool is_integer(DType dtype) { return dtype == DType::i32 || dtype == DType::i64; }

}  // namespace tj
