// tj::Error: the one exception type for everything a user can get wrong
// (bad IR text, shapes, dtypes, files). Messages name the op, the operands and
// their shapes, and where the problem came from.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tj {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tj
