// The op table, built from ops.def, and attribute helpers.
#include "ir/op.h"

#include <array>

#include "ir/error.h"

namespace tj {

namespace {

#define ATTR(name, kind, required) AttrSpec{#name, AttrKind::kind##_, required}
#define OP(id, text, arity, cls, rule, ...) \
  constexpr AttrSpec kAttrs_##id[] = {__VA_ARGS__ __VA_OPT__(, ) AttrSpec{"", AttrKind::int_, false}};
#include "ir/ops.def"
#undef OP

constexpr OpInfo kOpTable[] = {
#define OP(id, text, arity, cls, rule, ...)                                                  \
  OpInfo{Op::id, text, arity, OpClass::cls, TypeRule::rule,                                   \
         std::span<const AttrSpec>(kAttrs_##id, std::size(kAttrs_##id) - 1)},
#include "ir/ops.def"
#undef OP
};
#undef ATTR

}  // namespace

const OpInfo& op_info(Op op) { return kOpTable[static_cast<int>(op)]; }
std::string_view op_name(Op op) { return op_info(op).name; }
std::span<const OpInfo> all_ops() { return kOpTable; }

std::optional<Op> parse_op(std::string_view name) {
  for (const OpInfo& info : kOpTable)
    if (info.name == name && info.op != Op::param) return info.op;
  return std::nullopt;
}

std::string_view attr_kind_name(AttrKind kind) {
  constexpr std::string_view kNames[] = {"integer", "float", "bool", "integer list", "dtype"};
  return kNames[static_cast<int>(kind)];
}

AttrKind attr_kind_of(const AttrValue& value) {
  constexpr AttrKind kKinds[] = {AttrKind::int_, AttrKind::float_, AttrKind::bool_, AttrKind::ints_,
                                 AttrKind::dtype_};
  return kKinds[value.index()];
}

const std::vector<int64_t>* find_ints(const Attrs& attrs, std::string_view name) {
  auto it = attrs.find(std::string(name));
  return it == attrs.end() ? nullptr : &std::get<std::vector<int64_t>>(it->second);
}

int64_t get_int(const Attrs& attrs, std::string_view name) {
  return std::get<int64_t>(attrs.at(std::string(name)));
}

bool get_bool(const Attrs& attrs, std::string_view name, bool fallback) {
  auto it = attrs.find(std::string(name));
  return it == attrs.end() ? fallback : std::get<bool>(it->second);
}

DType get_dtype(const Attrs& attrs, std::string_view name) {
  return std::get<DType>(attrs.at(std::string(name)));
}

}  // namespace tj
