// Names of the element types (their sizes are inline in dtype.h).
#include "ir/dtype.h"

namespace tj {

namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
};
constexpr DTypeInfo kDTypeTable[] = {
    {DType::f32, "f32"}, {DType::f64, "f64"}, {DType::i32, "i32"}, {DType::i64, "i64"}, {DType::boolean, "bool"},
};
}  // namespace

std::string_view dtype_name(DType dtype) { return kDTypeTable[static_cast<int>(dtype)].name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeInfo& info : kDTypeTable)
    if (info.name == name) return info.dtype;
  return std::nullopt;
}

}  // namespace tj
