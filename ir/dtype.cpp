// Names and sizes of the element types.
#include "ir/dtype.h"

namespace tj {

namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  int64_t size;
};
constexpr DTypeInfo kDTypeTable[] = {
    {DType::f32, "f32", 4}, {DType::f64, "f64", 8},      {DType::i32, "i32", 4},
    {DType::i64, "i64", 8}, {DType::boolean, "bool", 1},
};
}  // namespace

std::string_view dtype_name(DType dtype) { return kDTypeTable[static_cast<int>(dtype)].name; }

int64_t dtype_size(DType dtype) { return kDTypeTable[static_cast<int>(dtype)].size; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeInfo& info : kDTypeTable)
    if (info.name == name) return info.dtype;
  return std::nullopt;
}

}  // namespace tj
