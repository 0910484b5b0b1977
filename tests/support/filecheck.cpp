// The CHECK matcher of filecheck.h.
#include "tests/support/filecheck.h"

#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace tj::testing {

namespace {

struct Directive {
  std::string kind;  // CHECK, CHECK-NEXT, CHECK-NOT, CHECK-LINE
  std::string text;
  int line;
};

std::string trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<Directive> directives_of(const std::string& test_text) {
  std::vector<Directive> out;
  const std::vector<std::string> lines = lines_of(test_text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    for (const char* kind : {"CHECK-NEXT", "CHECK-NOT", "CHECK-LINE", "CHECK"}) {
      const std::string prefix = std::string("# ") + kind + ":";
      if (line.starts_with(prefix)) {
        out.push_back({kind, trim(line.substr(prefix.size())), static_cast<int>(i + 1)});
        break;
      }
    }
  }
  return out;
}

bool matches(const Directive& d, const std::string& line) {
  return d.kind == "CHECK-LINE" ? trim(line) == d.text : line.find(d.text) != std::string::npos;
}

std::string context(const std::vector<std::string>& lines, size_t from) {
  std::string text;
  for (size_t i = from; i < lines.size() && i < from + 12; ++i) text += "    " + lines[i] + "\n";
  return text;
}

}  // namespace

std::string filecheck(const std::string& output, const std::string& test_text) {
  const std::vector<std::string> lines = lines_of(output);
  const std::vector<Directive> directives = directives_of(test_text);
  if (directives.empty()) return "the test has no CHECK lines";
  size_t next = 0;  // first output line not yet consumed
  std::vector<const Directive*> pending_not;
  for (const Directive& d : directives) {
    if (d.kind == "CHECK-NOT") {
      pending_not.push_back(&d);
      continue;
    }
    size_t found = lines.size();
    if (d.kind == "CHECK-NEXT") {
      if (next < lines.size() && matches(d, lines[next])) found = next;
    } else {
      for (size_t i = next; i < lines.size(); ++i)
        if (matches(d, lines[i])) {
          found = i;
          break;
        }
    }
    if (found == lines.size())
      return fmt::format("line {}: {}: '{}' not found; output from there:\n{}", d.line, d.kind, d.text, context(lines, next));
    for (const Directive* n : pending_not)
      for (size_t i = next; i < found; ++i)
        if (matches(*n, lines[i])) return fmt::format("line {}: CHECK-NOT: '{}' found: {}", n->line, n->text, lines[i]);
    pending_not.clear();
    next = found + 1;
  }
  for (const Directive* n : pending_not)
    for (size_t i = next; i < lines.size(); ++i)
      if (matches(*n, lines[i])) return fmt::format("line {}: CHECK-NOT: '{}' found: {}", n->line, n->text, lines[i]);
  return "";
}

}  // namespace tj::testing
