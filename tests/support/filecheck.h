// A small CHECK-line matcher in the spirit of LLVM's FileCheck, for text-in,
// text-out pass tests. Directives are comment lines of the test file:
//   # CHECK: text        a later output line contains text
//   # CHECK-NEXT: text   the line right after the previous match contains text
//   # CHECK-NOT: text    no line between the previous and the next match contains text
//   # CHECK-LINE: text   a later output line is exactly text (trimmed)
#pragma once

#include <string>

namespace tj::testing {

// Empty when `output` satisfies the directives in `test_text`, else a report
// naming the directive that failed and the output around the failure.
std::string filecheck(const std::string& output, const std::string& test_text);

}  // namespace tj::testing
