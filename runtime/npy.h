// NumPy `.npy` files (format versions 1, 2 and 3): read into an Array and
// write an Array, for all five dtypes, C or Fortran order on read, C order
// on write, including 0-d and 0-size arrays. Malformed files give tj::Error
// naming the file and what is wrong; nothing is allocated before the header
// and the file size agree.
#pragma once

#include <string>
#include <string_view>

#include "ir/array.h"

namespace tj {

Array parse_npy(std::string_view bytes, std::string_view name);  // name is for messages
Array load_npy(const std::string& path);
std::string serialize_npy(const Array& array);
void save_npy(const std::string& path, const Array& array);

}  // namespace tj
