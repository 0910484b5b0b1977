// Printer for the IR text form. Attributes print in the order of the op
// table, floats in the shortest form that reads back to the same value.
#include "ir/printer.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace tj {

namespace {

std::string print_const_value(const Node& node) {
  if (!node.constant.symbol.empty()) return "@" + node.constant.symbol;
  const DType dtype = node.type.dtype;
  if (is_float(dtype)) return std::isnan(node.constant.f) ? "nan" : fmt::format("{}", node.constant.f);
  if (dtype == DType::boolean) return node.constant.i ? "true" : "false";
  return std::to_string(node.constant.i);
}

std::string print_types(const std::vector<Node*>& values) {
  std::vector<std::string> types;
  for (const Node* v : values) types.push_back(type_to_string(v->type));
  if (types.size() == 1) return types[0];
  return fmt::format("({})", fmt::join(types, ", "));
}

std::string print_names(const std::vector<Node*>& values) {
  std::vector<std::string> names;
  for (const Node* v : values) names.push_back("%" + v->name);
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

std::string print_attr_value(const AttrValue& value) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const {
      // Keep a float recognisable as a float when it reads back.
      std::string text = fmt::format("{}", v);
      if (text.find_first_of(".eni") == std::string::npos) text += ".0";
      return text;
    }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::vector<int64_t>& v) const { return fmt::format("[{}]", fmt::join(v, ",")); }
    std::string operator()(DType v) const { return std::string(dtype_name(v)); }
  };
  return std::visit(Visitor{}, value);
}

std::string print_node(const Node& node) {
  std::string text = fmt::format("%{} = {}", node.name, op_name(node.op));
  if (node.op == Op::constant) text += " " + print_const_value(node);
  if (!node.inputs.empty()) text += " " + print_names(node.inputs);
  std::vector<std::string> attrs;
  for (const AttrSpec& spec : op_info(node.op).attrs) {
    auto it = node.attrs.find(std::string(spec.name));
    if (it != node.attrs.end()) attrs.push_back(fmt::format("{}={}", spec.name, print_attr_value(it->second)));
  }
  if (!attrs.empty()) text += fmt::format(" {{{}}}", fmt::join(attrs, ", "));
  return text + " : " + type_to_string(node.type);
}

std::string print_function(const Function& function) {
  std::vector<std::string> params;
  for (const Node* p : function.params()) params.push_back(fmt::format("%{}: {}", p->name, type_to_string(p->type)));
  std::string text = fmt::format("func @{}({}) -> {} {{\n", function.name(), fmt::join(params, ", "),
                                 print_types(function.results()));
  for (const auto& node : function.nodes())
    if (node->op != Op::param) text += "  " + print_node(*node) + "\n";
  return text + "  return " + print_names(function.results()) + "\n}\n";
}

std::string print_program(const Program& program) {
  std::string text;
  for (size_t i = 0; i < program.functions.size(); ++i) {
    if (i > 0) text += "\n";
    text += print_function(program.functions[i]);
  }
  return text;
}

}  // namespace tj
