// The canonical text form of programs (design §3). parse(print(p)) prints
// identically.
#pragma once

#include <string>

#include "ir/graph.h"

namespace tj {

std::string print_node(const Node& node);  // one statement, without indentation or newline
std::string print_function(const Function& function);
std::string print_program(const Program& program);
std::string print_attr_value(const AttrValue& value);

}  // namespace tj
