// Recursive-descent parser of the IR text form, with a small lexer. Any
// input text either parses or gives one error at a line and column; no
// recursion depends on the input, and sizes are checked before use.
#include "ir/parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cmath>
#include <limits>

#include "ir/error.h"
#include "ir/infer.h"

namespace tj {

namespace {

enum class Tok { end, ident, value, func, integer, floating, punct };

struct Token {
  Tok kind = Tok::end;
  std::string_view text;  // for value/func: the name without its sigil
  int line = 1, column = 1;
  int64_t integer = 0;
  double floating = 0;
};

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::end: return "end of file";
    case Tok::value: return fmt::format("'%{}'", t.text);
    case Tok::func: return fmt::format("'@{}'", t.text);
    default: return fmt::format("'{}'", t.text);
  }
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

class Lexer {
 public:
  Lexer(std::string_view text, std::string_view file) : text_(text), file_(file) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // a UTF-8 byte-order mark is not part of the program
  }

  [[noreturn]] void error_at(int line, int column, const std::string& message) const {
    fail("{}:{}:{}: error: {}", file_, line, column, message);
  }

  Token next() {
    skip_space_and_comments();
    Token t;
    t.line = line_;
    t.column = column_;
    if (pos_ >= text_.size()) return t;
    const char c = text_[pos_];
    const size_t start = pos_;
    if (c == '%' || c == '@') {
      advance();
      while (pos_ < text_.size() && is_name_char(text_[pos_])) advance();
      if (pos_ == start + 1) error_at(t.line, t.column, fmt::format("expected a name after '{}'", c));
      t.kind = c == '%' ? Tok::value : Tok::func;
      t.text = text_.substr(start + 1, pos_ - start - 1);
      return t;
    }
    if (c == '-' && peek(1) == '>') {
      advance(), advance();
      t.kind = Tok::punct;
      t.text = "->";
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') return number(t);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < text_.size() && is_name_char(text_[pos_])) advance();
      t.text = text_.substr(start, pos_ - start);
      if (t.text == "inf" || t.text == "nan") {
        t.kind = Tok::floating;
        t.floating = t.text == "inf" ? INFINITY : NAN;
        return t;
      }
      t.kind = Tok::ident;
      return t;
    }
    if (std::string_view("(){}[],:=").find(c) != std::string_view::npos) {
      advance();
      t.kind = Tok::punct;
      t.text = text_.substr(start, 1);
      return t;
    }
    if (std::isprint(static_cast<unsigned char>(c)))
      error_at(t.line, t.column, fmt::format("unexpected character '{}'", c));
    error_at(t.line, t.column, fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c)));
  }

 private:
  char peek(size_t ahead) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }

  void advance() {
    if (text_[pos_] == '\n') ++line_, column_ = 1;
    else ++column_;
    ++pos_;
  }

  void skip_space_and_comments() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') advance();
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else {
        break;
      }
    }
  }

  Token number(Token t) {
    const size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+') advance();
    if (text_.substr(pos_, 3) == "inf" && !is_name_char(peek(3))) {
      for (int i = 0; i < 3; ++i) advance();
      t.kind = Tok::floating;
      t.text = text_.substr(start, pos_ - start);
      t.floating = text_[start] == '-' ? -INFINITY : INFINITY;
      return t;
    }
    bool is_float = false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        advance();
      } else if (c == '.' || c == 'e' || c == 'E') {
        is_float = true;
        advance();
        if ((c == 'e' || c == 'E') && (peek(0) == '-' || peek(0) == '+')) advance();
      } else {
        break;
      }
    }
    while (pos_ < text_.size() && is_name_char(text_[pos_])) advance();  // swallow junk into the literal
    t.text = text_.substr(start, pos_ - start);
    std::string_view digits = t.text;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    const char* first = digits.data();
    const char* last = digits.data() + digits.size();
    if (is_float) {
      // strtod rounds underflow to a denormal or 0, as Python and NumPy do;
      // only overflow is an error.
      const std::string literal(first, last);
      char* end = nullptr;
      t.floating = std::strtod(literal.c_str(), &end);
      if (end != literal.c_str() + literal.size() || literal.find_first_of("0123456789") == std::string::npos)
        error_at(t.line, t.column, fmt::format("malformed number '{}'", t.text));
      if (std::isinf(t.floating)) error_at(t.line, t.column, fmt::format("float literal '{}' overflows f64", t.text));
      t.kind = Tok::floating;
    } else {
      auto [end, ec] = std::from_chars(first, last, t.integer);
      if (ec == std::errc::result_out_of_range) error_at(t.line, t.column, fmt::format("integer literal '{}' does not fit in 64 bits", t.text));
      if (ec != std::errc() || end != last) error_at(t.line, t.column, fmt::format("malformed number '{}'", t.text));
      t.kind = Tok::integer;
    }
    return t;
  }

  std::string_view text_;
  std::string_view file_;
  size_t pos_ = 0;
  int line_ = 1, column_ = 1;
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view file) : lexer_(text, file) { tok_ = lexer_.next(); }

  Program program() {
    Program program;
    if (tok_.kind == Tok::end) error("expected 'func': the program is empty");
    while (tok_.kind != Tok::end) {
      const Token at = tok_;
      Function f = function();
      if (program.find_function(f.name())) error_at(at, fmt::format("function @{} is defined twice", f.name()));
      program.functions.push_back(std::move(f));
    }
    return program;
  }

 private:
  [[noreturn]] void error_at(const Token& t, const std::string& message) const {
    lexer_.error_at(t.line, t.column, message);
  }
  [[noreturn]] void error(const std::string& message) const { error_at(tok_, message); }
  [[noreturn]] void expected(std::string_view what) const {
    error(fmt::format("expected {}, got {}", what, describe(tok_)));
  }

  Token take() {
    Token t = tok_;
    tok_ = lexer_.next();
    return t;
  }
  bool at_punct(std::string_view p) const { return tok_.kind == Tok::punct && tok_.text == p; }
  bool at_ident(std::string_view word) const { return tok_.kind == Tok::ident && tok_.text == word; }
  void expect_punct(std::string_view p) {
    if (!at_punct(p)) expected(fmt::format("'{}'", p));
    take();
  }
  // The ',' between list entries; anything else but the list's end is an error.
  void separator(std::string_view close) {
    if (!at_punct(",")) expected(fmt::format("',' or '{}'", close));
    take();
  }
  Token expect(Tok kind, std::string_view what) {
    if (tok_.kind != kind) expected(what);
    return take();
  }

  // Runs fn; a tj::Error it throws gets the location of `at`.
  template <typename Fn>
  auto located(const Token& at, Fn&& fn) {
    try {
      return fn();
    } catch (const Error& e) {
      error_at(at, e.what());
    }
  }

  Function function() {
    if (!at_ident("func")) expected("'func'");
    take();
    Function f(std::string(expect(Tok::func, "a function name like '@main'").text));
    expect_punct("(");
    while (!at_punct(")")) {
      if (!f.params().empty()) separator(")");
      const Token name = expect(Tok::value, "a parameter name like '%x'");
      expect_punct(":");
      TensorType type = tensor_type();
      located(name, [&] { return f.add_param(std::string(name.text), type, {name.line, name.column}); });
    }
    take();
    expect_punct("->");
    std::vector<Token> result_at;
    std::vector<TensorType> declared_results = result_types(result_at);
    expect_punct("{");
    while (!at_ident("return")) {
      if (tok_.kind == Tok::end || at_punct("}")) expected("a statement or 'return'");
      statement(f);
    }
    const Token return_at = take();
    std::vector<Node*> results;
    do {
      if (!results.empty()) take();
      const Token name = expect(Tok::value, "a value to return");
      Node* value = f.find(std::string(name.text));
      if (!value) error_at(name, fmt::format("use of undefined value %{}", name.text));
      results.push_back(value);
    } while (at_punct(","));
    expect_punct("}");
    if (results.size() != declared_results.size())
      error_at(return_at, fmt::format("@{} returns {} value(s) but its signature declares {}", f.name(),
                                      results.size(), declared_results.size()));
    for (size_t i = 0; i < results.size(); ++i)
      if (results[i]->type != declared_results[i])
        error_at(result_at[i], fmt::format("@{} declares result {} as {} but returns %{} of type {}", f.name(), i,
                                        type_to_string(declared_results[i]), results[i]->name,
                                        type_to_string(results[i]->type)));
    f.set_results(std::move(results));
    return f;
  }

  std::vector<TensorType> result_types(std::vector<Token>& at) {
    std::vector<TensorType> types;
    const bool list = at_punct("(");
    if (list) take();
    do {
      if (!types.empty()) take();
      at.push_back(tok_);
      types.push_back(tensor_type());
    } while (list && at_punct(","));
    if (!list) return types;
    expect_punct(")");
    return types;
  }

  TensorType tensor_type() {
    const Token at = tok_;
    if (tok_.kind != Tok::ident) expected("a type like 'f32[4,8]'");
    std::optional<DType> dtype = parse_dtype(tok_.text);
    if (!dtype) error(fmt::format("unknown dtype '{}' (expected f32, f64, i32, i64 or bool)", tok_.text));
    take();
    std::vector<Token> dims;
    Shape shape = int_list("a dimension", dims);
    for (const Token& d : dims) {
      if (d.integer < 0) error_at(d, fmt::format("negative dimension {} in type", d.integer));
      if (d.integer > kMaxElements) error_at(d, fmt::format("dimension {} is larger than 2^48", d.integer));
    }
    if (!checked_numel(shape)) error_at(at, fmt::format("type {} has more than 2^48 elements", shape_to_string(shape)));
    return {*dtype, shape};
  }

  // `positions`, when given, receives the token of every entry (for errors).
  std::vector<int64_t> int_list(std::string_view what) {
    std::vector<Token> unused;
    return int_list(what, unused);
  }
  std::vector<int64_t> int_list(std::string_view what, std::vector<Token>& positions) {
    expect_punct("[");
    std::vector<int64_t> values;
    while (!at_punct("]")) {
      if (!values.empty()) separator("]");
      if (values.size() >= static_cast<size_t>(kMaxRank)) error(fmt::format("list is longer than {} entries", kMaxRank));
      const Token entry = expect(Tok::integer, what);
      values.push_back(entry.integer);
      positions.push_back(entry);
    }
    take();
    return values;
  }

  void statement(Function& f) {
    const Token name = expect(Tok::value, "a statement like '%y = op ...'");
    if (const Node* previous = f.find(std::string(name.text)))
      error_at(name, fmt::format("%{} is defined twice (first at line {}, column {})", name.text, previous->loc.line,
                                 previous->loc.column));
    expect_punct("=");
    const Token op_tok = tok_;
    if (tok_.kind != Tok::ident) expected("an op name");
    std::optional<Op> op = parse_op(tok_.text);
    if (!op) error(fmt::format("unknown op '{}'", tok_.text));
    take();
    const SourceLoc loc{name.line, name.column};
    if (*op == Op::constant) return constant(f, name, op_tok);

    std::vector<Node*> inputs;
    while (tok_.kind == Tok::value) {
      const Token operand = take();
      Node* value = f.find(std::string(operand.text));
      if (!value) error_at(operand, fmt::format("use of undefined value %{}", operand.text));
      inputs.push_back(value);
      if (!at_punct(",")) break;
      take();
      if (tok_.kind != Tok::value) expected("an operand after ','");
    }
    Attrs attrs = at_punct("{") ? attributes(*op) : Attrs{};
    Node* node = located(op_tok, [&] {
      return f.add(*op, std::move(inputs), std::move(attrs), std::string(name.text), loc);
    });
    check_declared_type(node);
  }

  void check_declared_type(Node* node) {
    if (!at_punct(":")) return;
    take();
    const Token at = tok_;
    const TensorType declared = tensor_type();
    if (declared != node->type)
      error_at(at, fmt::format("declared type {} of %{} disagrees with the inferred type {}", type_to_string(declared),
                               node->name, type_to_string(node->type)));
  }

  void constant(Function& f, const Token& name, const Token& op_tok) {
    if (at_punct(":")) expected("a literal or a tensor symbol like '@w0' after 'const'");
    const Token value = take();
    if (!at_punct(":")) expected("':' and the type of the constant");
    take();
    const TensorType type = tensor_type();
    ConstValue c;
    const bool is_bool_literal = value.kind == Tok::ident && (value.text == "true" || value.text == "false");
    if (value.kind == Tok::func) {
      c.symbol = value.text;
    } else if (is_bool_literal) {
      if (type.dtype != DType::boolean) error_at(value, fmt::format("const: literal {} needs type bool, not {}", value.text, dtype_name(type.dtype)));
      c.i = value.text == "true";
    } else if (value.kind == Tok::integer) {
      c.i = value.integer;
      c.f = static_cast<double>(value.integer);
      if (type.dtype == DType::boolean) error_at(value, fmt::format("const: literal {} is not true or false", value.text));
      if (type.dtype == DType::i32 && (c.i < INT32_MIN || c.i > INT32_MAX))
        error_at(value, fmt::format("const: literal {} does not fit in i32", value.text));
    } else if (value.kind == Tok::floating) {
      if (!is_float(type.dtype))
        error_at(value, fmt::format("const: float literal {} for a constant of type {}", value.text, dtype_name(type.dtype)));
      c.f = value.floating;
      if (type.dtype == DType::f32 && std::isfinite(c.f) && std::isinf(static_cast<float>(c.f)))
        error_at(value, fmt::format("const: literal {} overflows f32", value.text));
    } else {
      error_at(value, fmt::format("const: expected a literal or a tensor symbol like '@w0', got {}", describe(value)));
    }
    located(op_tok, [&] { return f.add_const(type, std::move(c), std::string(name.text), {name.line, name.column}); });
  }

  Attrs attributes(Op op) {
    take();  // '{'
    Attrs attrs;
    while (!at_punct("}")) {
      if (!attrs.empty()) separator("}");
      const Token key = expect(Tok::ident, "an attribute name");
      const OpInfo& info = op_info(op);
      auto spec = std::find_if(info.attrs.begin(), info.attrs.end(), [&](const AttrSpec& s) { return s.name == key.text; });
      if (spec == info.attrs.end()) error_at(key, fmt::format("{}: unknown attribute '{}'", info.name, key.text));
      if (attrs.contains(std::string(key.text))) error_at(key, fmt::format("{}: attribute '{}' given twice", info.name, key.text));
      expect_punct("=");
      const Token at = tok_;
      AttrValue value = attr_value(spec->kind);
      if (attr_kind_of(value) != spec->kind)
        error_at(at, fmt::format("{}: attribute '{}' must be {}, got {}", info.name, key.text,
                                 attr_kind_name(spec->kind), attr_kind_name(attr_kind_of(value))));
      attrs.emplace(std::string(key.text), std::move(value));
    }
    take();
    return attrs;
  }

  AttrValue attr_value(AttrKind wanted) {
    if (at_punct("[")) return int_list("an integer");
    const Token t = take();
    switch (t.kind) {
      case Tok::integer:
        if (wanted == AttrKind::float_) return static_cast<double>(t.integer);
        return t.integer;
      case Tok::floating: return t.floating;
      case Tok::ident:
        if (t.text == "true" || t.text == "false") return t.text == "true";
        if (std::optional<DType> dtype = parse_dtype(t.text)) return *dtype;
        break;
      default: break;
    }
    error_at(t, fmt::format("expected an attribute value (integer, float, bool, [list] or dtype), got {}", describe(t)));
  }

  Lexer lexer_;
  Token tok_;
};

}  // namespace

Program parse_program(std::string_view text, std::string_view filename) {
  return Parser(text, filename).program();
}

}  // namespace tj
