// Human-readable text of an Array, summarised like NumPy's repr for large
// arrays (first and last three entries of each long axis).
#pragma once

#include <string>

#include "ir/array.h"

namespace tj {

std::string format_array(const Array& array);

}  // namespace tj
