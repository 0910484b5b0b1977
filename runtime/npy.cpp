// `.npy` reading and writing. The header is a Python dict literal; we parse
// exactly the subset NumPy writes: 'descr' (a string), 'fortran_order' (a
// bool) and 'shape' (a tuple of integers), in any order.
#include "runtime/npy.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/error.h"

namespace tj {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

struct DescrEntry {
  std::string_view descr;
  DType dtype;
};
constexpr DescrEntry kDescrTable[] = {
    {"<f4", DType::f32}, {"<f8", DType::f64}, {"<i4", DType::i32}, {"<i8", DType::i64}, {"|b1", DType::boolean},
    {"=f4", DType::f32}, {"=f8", DType::f64}, {"=i4", DType::i32}, {"=i8", DType::i64}, {"<b1", DType::boolean},
    {"=b1", DType::boolean},
};

std::string_view descr_of(DType dtype) {
  for (const DescrEntry& e : kDescrTable)
    if (e.dtype == dtype) return e.descr;
  return "";
}

// Parser of the header dict. `fail_at` reports the name and what went wrong.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view name) : text_(text), name_(name) {}

  DType dtype = DType::f32;
  bool fortran_order = false;
  Shape shape;

  void parse() {
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (!at('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        dtype = parse_descr(string_literal());
        has_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = bool_literal();
        has_order = true;
      } else if (key == "shape") {
        shape = tuple();
        has_shape = true;
      } else {
        error(fmt::format("unknown header key '{}'", key));
      }
      if (!at('}')) expect(',');
    }
    expect('}');
    if (!has_descr || !has_order || !has_shape) error("header lacks 'descr', 'fortran_order' or 'shape'");
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail("{}: malformed .npy header: {}", name_, what); }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool at(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c) {
    if (!at(c)) error(fmt::format("expected '{}' at byte {}", c, pos_));
    ++pos_;
  }

  std::string string_literal() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) error("expected a quoted string");
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) error("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  bool bool_literal() {
    skip_space();
    for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}})
      if (text_.substr(pos_, std::strlen(word)) == word) {
        pos_ += std::strlen(word);
        return value;
      }
    error("expected True or False for 'fortran_order'");
  }

  Shape tuple() {
    expect('(');
    Shape dims;
    while (!at(')')) {
      skip_space();
      int64_t dim = 0;
      auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), dim);
      if (ec != std::errc() || dim < 0) error("shape entries must be non-negative integers");
      pos_ = end - text_.data();
      dims.push_back(dim);
      if (dims.size() > static_cast<size_t>(kMaxRank)) error(fmt::format("shape has more than {} dims", kMaxRank));
      if (!at(')')) expect(',');
    }
    expect(')');
    return dims;
  }

  DType parse_descr(const std::string& descr) const {
    for (const DescrEntry& e : kDescrTable)
      if (e.descr == descr) return e.dtype;
    if (!descr.empty() && descr[0] == '>')
      fail("{}: big-endian dtype '{}' is not supported; save with dtype.newbyteorder('<')", name_, descr);
    fail("{}: unsupported dtype '{}' (supported: <f4, <f8, <i4, <i8, |b1)", name_, descr);
  }

  std::string_view text_;
  std::string_view name_;
  size_t pos_ = 0;
};

uint32_t little_endian(std::string_view bytes, size_t at, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

}  // namespace

Array parse_npy(std::string_view bytes, std::string_view name) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic) fail("{}: not a .npy file (bad magic bytes)", name);
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) fail("{}: unsupported .npy format version {}", name, major);
  const size_t width = major == 1 ? 2 : 4;
  const size_t header_start = 8 + width;
  if (bytes.size() < header_start) fail("{}: truncated .npy header", name);
  const size_t header_len = little_endian(bytes, 8, width);
  if (bytes.size() - header_start < header_len) fail("{}: truncated .npy header ({} bytes announced)", name, header_len);

  HeaderParser header(bytes.substr(header_start, header_len), name);
  header.parse();
  const std::optional<int64_t> count = checked_numel(header.shape);
  if (!count) fail("{}: shape {} is too large", name, shape_to_string(header.shape));
  const int64_t element_size = dtype_size(header.dtype);
  const size_t data_start = header_start + header_len;
  const uint64_t data_bytes = static_cast<uint64_t>(*count) * element_size;
  const uint64_t available = bytes.size() - data_start;
  if (available != data_bytes)
    fail("{}: {} data: expected {} bytes for {}, file has {}", name, available < data_bytes ? "truncated" : "extra",
         data_bytes, type_to_string({header.dtype, header.shape}), available);

  // Fortran order is C order of the reversed shape, transposed back.
  Shape storage_shape = header.shape;
  if (header.fortran_order) std::reverse(storage_shape.begin(), storage_shape.end());
  Array stored = Array::zeros(header.dtype, storage_shape);
  if (data_bytes > 0) std::memcpy(stored.mutable_at(0), bytes.data() + data_start, data_bytes);
  if (header.dtype == DType::boolean) {
    uint8_t* b = stored.mutable_data<uint8_t>();
    for (int64_t i = 0; i < *count; ++i) b[i] = b[i] != 0;
  }
  if (!header.fortran_order) return stored;
  Strides strides = stored.strides();
  std::reverse(strides.begin(), strides.end());
  return stored.with_layout(header.shape, strides, 0).contiguous();
}

Array load_npy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("{}: cannot open file", path);
  std::ostringstream content;
  content << file.rdbuf();
  return parse_npy(content.str(), path);
}

std::string serialize_npy(const Array& array) {
  const Shape& shape = array.shape();
  std::string dims = fmt::format("{}", fmt::join(shape, ", "));
  if (shape.size() == 1) dims += ",";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   descr_of(array.dtype()), dims);
  // Pad so that magic + version + length + header is a multiple of 64, ending in '\n'.
  const size_t total = kMagic.size() + 2 + 2 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  const Array dense = array.contiguous();
  const size_t data_bytes = static_cast<size_t>(dense.numel() * dtype_size(dense.dtype()));
  if (data_bytes > 0) out.append(reinterpret_cast<const char*>(dense.at(dense.offset())), data_bytes);
  return out;
}

void save_npy(const std::string& path, const Array& array) {
  std::ofstream file(path, std::ios::binary);
  if (!file) fail("{}: cannot create file", path);
  const std::string bytes = serialize_npy(array);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) fail("{}: write failed", path);
}

}  // namespace tj
