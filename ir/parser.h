// Parser of the IR text form (design §3). Errors are tj::Error with the text
// "FILE:LINE:COLUMN: error: what was wrong / what was expected". Every
// statement is type-checked as it is read, so a parsed program is verified.
#pragma once

#include <string_view>

#include "ir/graph.h"

namespace tj {

Program parse_program(std::string_view text, std::string_view filename = "<input>");

}  // namespace tj
