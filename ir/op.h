// Op ids, op classes and attribute specs, all generated from ops.def.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ir/dtype.h"

namespace tj {

enum class Op : uint8_t {
#define OP(id, ...) id,
#include "ir/ops.def"
#undef OP
};

enum class OpClass : uint8_t { elementwise, leaf, shape, reduce, matmul };

// Which function of infer.cpp computes the result type.
enum class TypeRule : uint8_t {
  unary_numeric, unary_float, binary_numeric, binary_float, compare, select, cast,
  param, constant, reshape, transpose, broadcast, slice, concat,
  reduce_sum, reduce_mean, reduce_extremum, matmul,
};

enum class AttrKind : uint8_t { int_, float_, bool_, ints_, dtype_ };
using AttrValue = std::variant<int64_t, double, bool, std::vector<int64_t>, DType>;
using Attrs = std::map<std::string, AttrValue>;

struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  bool required;
};

struct OpInfo {
  Op op;
  std::string_view name;
  int arity;  // -1: one or more operands
  OpClass op_class;
  TypeRule rule;
  std::span<const AttrSpec> attrs;
};

const OpInfo& op_info(Op op);
std::string_view op_name(Op op);
std::optional<Op> parse_op(std::string_view name);  // text name -> op; param is not parseable
std::span<const OpInfo> all_ops();

inline bool is_elementwise(Op op) { return op_info(op).op_class == OpClass::elementwise; }
inline bool is_reduce(Op op) { return op_info(op).op_class == OpClass::reduce; }
inline bool is_shape_op(Op op) { return op_info(op).op_class == OpClass::shape; }

std::string_view attr_kind_name(AttrKind kind);
AttrKind attr_kind_of(const AttrValue& value);

// Typed attribute access; the verifier guarantees kinds, so a wrong kind is a bug.
const std::vector<int64_t>* find_ints(const Attrs& attrs, std::string_view name);
int64_t get_int(const Attrs& attrs, std::string_view name);
bool get_bool(const Attrs& attrs, std::string_view name, bool fallback);
DType get_dtype(const Attrs& attrs, std::string_view name);

}  // namespace tj
