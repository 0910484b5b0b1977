// Tests that malformed IR text gives one tj::Error at the right line:column
// naming what was wrong, and that mutated example programs never make the
// parser fail in any other way or accept a program the verifier rejects.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ir/error.h"
#include "ir/parser.h"
#include "ir/verifier.h"

namespace {

struct Case {
  const char* name;
  const char* text;
  int line;
  int column;
  const char* message_part;
};

const Case kCases[] = {
    // lexical and structural
    {"empty_file", "", 1, 1, "expected 'func': the program is empty"},
    {"only_comments", "# a comment\n# another one\n", 3, 1, "the program is empty"},
    {"only_whitespace", "\n\n  \n", 4, 1, "the program is empty"},
    {"binary_garbage", "\x01\x02\xff", 1, 1, "unexpected byte 0x01"},
    {"unexpected_character", "func @f(%x: f32[]) -> f32[] {\n  %y = neg %x;\n  return %y\n}\n", 2, 14,
     "unexpected character ';'"},
    {"missing_func", "@f(%x: f32[]) -> f32[] {\n  return %x\n}\n", 1, 1, "expected 'func', got '@f'"},
    {"missing_function_name", "func (%x: f32[]) -> f32[] {\n  return %x\n}\n", 1, 6,
     "expected a function name like '@main', got '('"},
    {"missing_value_name", "func @f(%: f32[]) -> f32[] {\n  return %x\n}\n", 1, 9, "expected a name after '%'"},
    {"unterminated_param_list", "func @f(%x: f32[] -> f32[] {\n  return %x\n}\n", 1, 19, "got '->'"},
    {"param_list_at_end_of_file", "func @f(%x: f32[]", 1, 18, "got end of file"},

    // types and literals
    {"unknown_dtype", "func @f(%x: f16[2]) -> f16[2] {\n  return %x\n}\n", 1, 13, "unknown dtype 'f16'"},
    {"negative_dim", "func @f(%x: f32[2,-3]) -> f32[2] {\n  return %x\n}\n", 1, 19, "negative dimension -3"},
    {"dims_product_overflows", "func @f(%x: f32[4294967296,4294967296]) -> f32[] {\n  return %x\n}\n", 1, 13,
     "type [4294967296,4294967296] has more than 2^48 elements"},
    {"rank_above_16", "func @f(%x: f32[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]) -> f32[] {\n  return %x\n}\n", 1, 49,
     "list is longer than 16 entries"},
    {"list_far_too_long", "func @f(%x: f32[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]) -> f32[] {\n  return %x\n}\n", 1, 49,
     "list is longer than 16 entries"},
    {"integer_literal_overflow", "func @f(%x: f32[99999999999999999999]) -> f32[] {\n  return %x\n}\n", 1, 17,
     "integer literal '99999999999999999999' does not fit in 64 bits"},
    {"malformed_float_literal", "func @f() -> f32[] {\n  %c = const 1.2.3 : f32[]\n  return %c\n}\n", 2, 14,
     "malformed number '1.2.3'"},
    {"float_literal_out_of_range", "func @f() -> f64[] {\n  %c = const 1e999 : f64[]\n  return %c\n}\n", 2, 14,
     "float literal '1e999' overflows f64"},
    {"float_literal_overflows_f32", "func @f() -> f32[] {\n  %c = const 1e39 : f32[]\n  return %c\n}\n", 2, 14,
     "literal 1e39 overflows f32"},

    // names
    {"undefined_value", "func @f(%x: f32[]) -> f32[] {\n  %y = neg %z\n  return %y\n}\n", 2, 12,
     "use of undefined value %z"},
    {"undefined_returned_value", "func @f(%x: f32[]) -> f32[] {\n  return %q\n}\n", 2, 10, "use of undefined value %q"},
    {"redefined_value", "func @f(%x: f32[]) -> f32[] {\n  %y = neg %x\n  %y = abs %x\n  return %y\n}\n", 3, 3,
     "%y is defined twice (first at line 2, column 3)"},
    {"redefined_parameter", "func @f(%x: f32[], %x: f32[]) -> f32[] {\n  return %x\n}\n", 1, 20,
     "%x is defined twice in @f"},
    {"duplicate_function",
     "func @f(%x: f32[]) -> f32[] {\n  return %x\n}\nfunc @f(%x: f32[]) -> f32[] {\n  return %x\n}\n", 4, 1,
     "function @f is defined twice"},

    // ops, operands, attributes
    {"unknown_op", "func @f(%x: f32[]) -> f32[] {\n  %y = frobnicate %x\n  return %y\n}\n", 2, 8,
     "unknown op 'frobnicate'"},
    {"add_with_one_operand", "func @f(%x: f32[]) -> f32[] {\n  %y = add %x\n  return %y\n}\n", 2, 8,
     "add: expects 2 operands, got 1"},
    {"select_with_two_operands", "func @f(%x: f32[], %c: bool[]) -> f32[] {\n  %y = select %c, %x\n  return %y\n}\n",
     2, 8, "select: expects 3 operands, got 2"},
    {"unknown_attribute", "func @f(%x: f32[2]) -> f32[] {\n  %y = sum %x {axis=[0]}\n  return %y\n}\n", 2, 16,
     "sum: unknown attribute 'axis'"},
    {"duplicate_attribute", "func @f(%x: f32[2]) -> f32[] {\n  %y = sum %x {axes=[0], axes=[0]}\n  return %y\n}\n", 2,
     26, "sum: attribute 'axes' given twice"},
    {"attribute_of_wrong_kind", "func @f(%x: f32[2]) -> f32[] {\n  %y = sum %x {axes=true}\n  return %y\n}\n", 2, 21,
     "sum: attribute 'axes' must be integer list, got bool"},
    {"attribute_value_not_a_dtype", "func @f(%x: f32[]) -> f32[] {\n  %y = cast %x {to=f16}\n  return %y\n}\n", 2, 20,
     "expected an attribute value (integer, float, bool, [list] or dtype), got 'f16'"},
    {"missing_required_attribute", "func @f(%x: f32[2]) -> f32[2] {\n  %y = reshape %x\n  return %y\n}\n", 2, 8,
     "reshape: missing attribute 'shape'"},

    // type rules
    {"axes_out_of_range", "func @f(%x: f32[2,3]) -> f32[] {\n  %y = sum %x {axes=[2]}\n  return %y\n}\n", 2, 8,
     "axis 2 is out of range for rank 2"},
    {"axes_repeated", "func @f(%x: f32[2,3]) -> f32[] {\n  %y = sum %x {axes=[1,-1]}\n  return %y\n}\n", 2, 8,
     "axes=[1,-1] repeats an axis"},
    {"perm_not_a_permutation", "func @f(%x: f32[2,3]) -> f32[] {\n  %y = transpose %x {perm=[0,0]}\n  return %y\n}\n",
     2, 8, "perm=[0,0] is not a permutation of 0..1"},
    {"perm_wrong_length", "func @f(%x: f32[2,3]) -> f32[] {\n  %y = transpose %x {perm=[1,0,2]}\n  return %y\n}\n", 2,
     8, "perm=[1,0,2] has 3 entries for a rank-2 operand"},
    {"slice_step_zero",
     "func @f(%x: f32[4]) -> f32[] {\n  %y = slice %x {starts=[0], ends=[4], steps=[0]}\n  return %y\n}\n", 2, 8,
     "steps=[0] has an invalid step 0 on axis 0"},
    {"slice_wrong_number_of_starts",
     "func @f(%x: f32[4]) -> f32[] {\n  %y = slice %x {starts=[0,0], ends=[4]}\n  return %y\n}\n", 2, 8,
     "starts=[0,0] has 2 entries for a rank-1 operand"},
    {"reshape_count_mismatch", "func @f(%x: f32[2,3]) -> f32[] {\n  %y = reshape %x {shape=[4]}\n  return %y\n}\n", 2,
     8, "shape=[4] holds 4 elements, the operand holds 6"},
    {"reshape_two_minus_ones", "func @f(%x: f32[2,3]) -> f32[] {\n  %y = reshape %x {shape=[-1,-1]}\n  return %y\n}\n",
     2, 8, "shape=[-1,-1] has more than one -1"},
    {"add_broadcast_mismatch", "func @f(%x: f32[2,3], %z: f32[4]) -> f32[] {\n  %y = add %x, %z\n  return %y\n}\n", 2,
     8, "add: shapes cannot be broadcast together (operands: f32[2,3], f32[4])"},
    {"matmul_inner_mismatch", "func @f(%a: f32[2,3], %b: f32[4,5]) -> f32[] {\n  %y = matmul %a, %b\n  return %y\n}\n",
     2, 8, "matmul: inner dimensions differ (3 vs 4)"},
    {"matmul_batch_mismatch",
     "func @f(%a: f32[2,2,3], %b: f32[3,3,5]) -> f32[] {\n  %y = matmul %a, %b\n  return %y\n}\n", 2, 8,
     "matmul: batch dimensions cannot be broadcast together"},
    {"add_dtype_mismatch", "func @f(%a: f32[2], %b: i32[2]) -> f32[2] {\n  %y = add %a, %b\n  return %y\n}\n", 2, 8,
     "add: operand dtypes differ (f32 vs i32)"},
    {"exp_on_i32", "func @f(%a: i32[2]) -> i32[2] {\n  %y = exp %a\n  return %y\n}\n", 2, 8,
     "exp: operand 0 has dtype i32, expected f32 or f64"},
    {"max_over_empty_axis", "func @f(%a: f32[3,0]) -> f32[3] {\n  %y = max %a {axes=[1]}\n  return %y\n}\n", 2, 8,
     "max: reduces axis 1 of size 0"},

    // declared types and results
    {"declared_type_disagrees", "func @f(%x: f32[2,3]) -> f32[2,3] {\n  %y = neg %x : f32[3,2]\n  return %y\n}\n", 2,
     17, "declared type f32[3,2] of %y disagrees with the inferred type f32[2,3]"},
    {"function_result_type_disagrees", "func @f(%x: f32[2,3]) -> f32[3,2] {\n  %y = neg %x\n  return %y\n}\n", 1, 26,
     "@f declares result 0 as f32[3,2] but returns %y of type f32[2,3]"},
    {"wrong_number_of_results", "func @f(%x: f32[2,3]) -> f32[2,3] {\n  return %x, %x\n}\n", 2, 3,
     "@f returns 2 value(s) but its signature declares 1"},

    // constants
    {"const_float_literal_for_i32", "func @f() -> i32[] {\n  %c = const 1.5 : i32[]\n  return %c\n}\n", 2, 14,
     "float literal 1.5 for a constant of type i32"},
    {"const_literal_too_large_for_i32", "func @f() -> i32[] {\n  %c = const 3000000000 : i32[]\n  return %c\n}\n", 2,
     14, "literal 3000000000 does not fit in i32"},
    {"const_integer_for_bool", "func @f() -> bool[] {\n  %c = const 2 : bool[]\n  return %c\n}\n", 2, 14,
     "literal 2 is not true or false"},

    {"const_without_literal", "func @f() -> f32[] {\n  %c = const : f32[]\n  return %c\n}\n", 2, 14,
     "expected a literal or a tensor symbol like '@w0' after 'const', got ':'"},

    // missing pieces
    {"unclosed_parameter_list", "func @f(%x: f32[] -> f32[] {\n  return %x\n}\n", 1, 19, "expected ',' or ')', got '->'"},
    {"missing_return", "func @f(%a: f32[3]) -> f32[3] {\n  %y = neg %a\n}\n", 3, 1,
     "expected a statement or 'return', got '}'"},
    {"end_of_file_before_return", "func @f(%a: f32[3]) -> f32[3] {\n  %y = neg %a\n", 3, 1,
     "expected a statement or 'return', got end of file"},
    {"end_of_file_mid_statement", "func @f(%a: f32[3]) -> f32[3] {\n  %y = add %a,", 2, 15,
     "expected an operand after ',', got end of file"},
};

class ParseErrorsTable : public testing::TestWithParam<Case> {};

TEST_P(ParseErrorsTable, ReportsLocationAndReason) {
  const Case& c = GetParam();
  try {
    tj::parse_program(c.text, "t.tj");
    FAIL() << "parsed without error";
  } catch (const tj::Error& e) {
    const std::string message = e.what();
    const std::string location = fmt::format("t.tj:{}:{}: error:", c.line, c.column);
    EXPECT_TRUE(message.starts_with(location)) << message << "\ndoes not start with " << location;
    EXPECT_NE(message.find(c.message_part), std::string::npos) << message << "\ndoes not contain " << c.message_part;
  }
}

INSTANTIATE_TEST_SUITE_P(ParseErrors, ParseErrorsTable, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// --- robustness under mutation ---------------------------------------------

std::vector<std::string> example_texts() {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(TJ_SOURCE_DIR) / "examples/ir"))
    if (entry.path().extension() == ".tj") paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> texts;
  for (const auto& path : paths) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream content;
    content << file.rdbuf();
    texts.push_back(content.str());
  }
  return texts;
}

// Splits text into runs of name and number characters and single other
// characters, so that joining the pieces gives the text back.
std::vector<std::string> pieces(std::string_view text) {
  auto is_word = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '%' || c == '@' || c == '-';
  };
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    size_t j = i + 1;
    if (is_word(text[i]))
      while (j < text.size() && is_word(text[j])) ++j;
    out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

// Numbers that stress the limits of the lexer, the shape checks and the type rules.
constexpr const char* kNastyNumbers[] = {
    "0", "-1", "-2", "17", "2147483648", "4294967296", "281474976710656", "281474976710657",
    "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1e999", "1.5", "-0", "nan", "inf",
};

// One random change to a text: a token deleted, duplicated or swapped, a byte
// deleted or inserted, or a run of digits replaced by a nasty number.
std::string mutate(const std::string& text, std::mt19937& rng) {
  std::vector<std::string> parts = pieces(text);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::string out;
  switch (rng() % 6) {
    case 0:
      parts.erase(parts.begin() + pick(parts.size()));
      return join(parts);
    case 1: {
      const size_t i = pick(parts.size());
      parts.insert(parts.begin() + i, parts[i]);
      return join(parts);
    }
    case 2:
      std::swap(parts[pick(parts.size())], parts[pick(parts.size())]);
      return join(parts);
    case 3:
      out = text;
      out.erase(pick(out.size()), 1);
      return out;
    case 4:
      out = text;
      out.insert(out.begin() + pick(out.size() + 1), static_cast<char>(rng() % 256));
      return out;
    default: {
      std::vector<size_t> numbers;
      for (size_t i = 0; i < parts.size(); ++i)
        if (std::isdigit(static_cast<unsigned char>(parts[i].back()))) numbers.push_back(i);
      if (numbers.empty()) return text;
      parts[numbers[pick(numbers.size())]] = kNastyNumbers[pick(std::size(kNastyNumbers))];
      return join(parts);
    }
  }
}

// Whether `message` is "t.tj:LINE:COLUMN: error: ..." with LINE:COLUMN inside
// `text` or just past its end.
bool located_in(const std::string& message, const std::string& text) {
  int line = 0, column = 0, used = 0;
  if (std::sscanf(message.c_str(), "t.tj:%d:%d: error: %n", &line, &column, &used) != 2 || used == 0) return false;
  std::vector<size_t> line_lengths{0};
  for (char c : text) {
    if (c == '\n') line_lengths.push_back(0);
    else ++line_lengths.back();
  }
  return line >= 1 && static_cast<size_t>(line) <= line_lengths.size() && column >= 1 &&
         static_cast<size_t>(column) <= line_lengths[line - 1] + 1;
}

// Empty when `text` parses into a program the verifier accepts, or is
// rejected with a located tj::Error; otherwise what went wrong.
std::string misbehaviour(const std::string& text) {
  tj::Program program;
  try {
    program = tj::parse_program(text, "t.tj");
  } catch (const tj::Error& e) {
    return located_in(e.what(), text) ? "" : fmt::format("badly located tj::Error: {}", e.what());
  } catch (const std::exception& e) {
    return fmt::format("{} thrown: {}", typeid(e).name(), e.what());
  } catch (...) {
    return "a non-std exception thrown";
  }
  try {
    tj::verify(program);
  } catch (const std::exception& e) {
    return fmt::format("parsed, but the verifier rejects it: {}", e.what());
  }
  return "";
}

TEST(ParseErrorsRobustness, MutatedExamplesParseOrFailWithError) {
  const std::vector<std::string> texts = example_texts();
  ASSERT_GE(texts.size(), 5u);
  std::vector<std::string> inputs;
  const std::string& longest = *std::max_element(
      texts.begin(), texts.end(), [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  for (size_t n = 0; n <= longest.size(); ++n) inputs.push_back(longest.substr(0, n));
  std::mt19937 rng(20240601);
  for (const std::string& text : texts) {
    for (int i = 0; i < 1000; ++i) {
      std::string mutated = mutate(text, rng);
      if (i % 3 == 0) mutated = mutate(mutated, rng);  // some inputs get two changes
      inputs.push_back(std::move(mutated));
    }
  }
  int failures = 0;
  for (const std::string& input : inputs) {
    const std::string problem = misbehaviour(input);
    if (problem.empty()) continue;
    ADD_FAILURE() << problem << "\ninput:\n" << input;
    if (++failures == 10) break;
  }
}

}  // namespace
