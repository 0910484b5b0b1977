// .npy reading and writing: round trips for every dtype (0-d and 0-size
// included), Fortran order, and malformed files that must give a clear error.
#include <gtest/gtest.h>

#include <string>

#include "ir/error.h"
#include "runtime/npy.h"
#include "tests/support/arrays.h"

using namespace tj;
using namespace tj::testing;

namespace {

// A version-1 .npy file with the given header dict and raw data bytes.
std::string npy_bytes(const std::string& dict, const std::string& data, char major = 1) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += major;
  out += '\0';
  if (major == 1) {
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    parse_npy(bytes, "x.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Npy, RoundTripEveryDType) {
  for (DType dtype : kAllDTypes) {
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{3}, Shape{2, 0, 4}, Shape{2, 3}}) {
      SCOPED_TRACE(type_to_string({dtype, shape}));
      std::vector<double> values;
      for (int64_t i = 0; i < numel(shape); ++i) values.push_back(dtype == DType::boolean ? i % 2 : i * 3 - 4.5);
      const Array a = make_array(dtype, shape, values);
      const Array b = parse_npy(serialize_npy(a), "mem");
      EXPECT_TRUE(arrays_identical(a, b));
    }
  }
}

TEST(Npy, HeaderIsWhatNumPyWrites) {
  const std::string bytes = serialize_npy(f32({3}, {1, 2, 3}));
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ((bytes.size() - 12) % 4, 0u);
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), std::string::npos);
  EXPECT_EQ((bytes.size() - 3 * 4) % 64, 0u);  // data starts 64-byte aligned
}

TEST(Npy, NonContiguousArraysAreWrittenInCOrder) {
  const Array a = f32({2, 3}, {0, 1, 2, 3, 4, 5});
  const Array t = a.with_layout({3, 2}, {1, 3}, 0);  // the transpose
  EXPECT_EQ(values_of(parse_npy(serialize_npy(t), "mem")), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(Npy, ReadsFortranOrderAndVersion2) {
  // Fortran order [2,3]: memory holds columns (0,3), (1,4), (2,5).
  std::string data;
  for (float v : {0.f, 3.f, 1.f, 4.f, 2.f, 5.f}) data.append(reinterpret_cast<const char*>(&v), 4);
  const Array a = parse_npy(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data), "f.npy");
  EXPECT_EQ(values_of(a), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  const Array b = parse_npy(npy_bytes("{'shape': (), 'descr': '<i8', 'fortran_order': False}", std::string(8, '\x01'), 2), "v2");
  EXPECT_EQ(b.type(), (TensorType{DType::i64, {}}));
}

TEST(Npy, MalformedFilesGiveClearErrors) {
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const struct {
    std::string bytes;
    const char* message_part;
  } cases[] = {
      {"", "not a .npy file"},
      {"PK\x03\x04 this is a zip", "not a .npy file"},
      {std::string("\x93NUMPY\x09\x00\x10\x00", 10), "unsupported .npy format version 9"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "truncated .npy header"},
      {npy_bytes(f4, std::string(7, '\0')), "truncated data: expected 8 bytes for f32[2], file has 7"},
      {npy_bytes(f4, std::string(9, '\0')), "extra data"},
      {npy_bytes("{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", "abcd"), "unsupported dtype '<u2'"},
      {npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "abcdefgh"), "big-endian"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", ""), "non-negative integers"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""), "too large"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", ""), "non-negative integers"},
      {npy_bytes("{'descr': '<f4', 'shape': (2,), }", "abcdefgh"), "lacks"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", ""), "True or False"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", ""), "unknown header key 'extra'"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", ""), "shape entries"},
      {npy_bytes("{'descr: '<f4'}", ""), "expected"},
      {npy_bytes("not a dict", ""), "expected '{'"},
      {npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(40, '1') + "," + "), }", ""),
       "non-negative integers"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message_part);
    const std::string message = error_of(c.bytes);
    EXPECT_TRUE(message.starts_with("x.npy: ")) << message;
    EXPECT_NE(message.find(c.message_part), std::string::npos) << message;
  }
}

TEST(Npy, BoolBytesAreNormalised) {
  const Array a = parse_npy(npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x02\x01", 3)), "b");
  EXPECT_EQ(values_of(a), (std::vector<double>{0, 1, 1}));
}

TEST(Npy, MissingFile) {
  EXPECT_THROW(load_npy("/nonexistent/dir/x.npy"), Error);
}
