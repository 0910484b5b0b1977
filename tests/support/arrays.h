// Test helpers: build arrays from literals, read them back, and run a
// program text through the reference interpreter.
#pragma once

#include <string>
#include <vector>

#include "ir/array.h"
#include "ir/interpreter.h"
#include "ir/parser.h"
#include "ir/verifier.h"

namespace tj::testing {

inline Array make_array(DType dtype, const Shape& shape, const std::vector<double>& values) {
  Array a = Array::zeros(dtype, shape);
  const int64_t size = dtype_size(dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (is_float(dtype)) write_double(a.mutable_at(0) + i * size, dtype, values[i]);
    else write_int(a.mutable_at(0) + i * size, dtype, static_cast<int64_t>(values[i]));
  }
  return a;
}

inline Array f32(const Shape& shape, const std::vector<double>& values) { return make_array(DType::f32, shape, values); }

// Values in C order, as doubles (integers and bools convert exactly up to 2^53).
inline std::vector<double> values_of(const Array& a) {
  const Array dense = a.contiguous();
  std::vector<double> out;
  for (int64_t i = 0; i < dense.numel(); ++i) out.push_back(read_double(dense.at(dense.offset() + i), dense.dtype()));
  return out;
}

inline std::vector<Array> run_text(const std::string& text, const std::vector<Array>& inputs) {
  Program program = parse_program(text, "test.tj");
  verify(program);
  return interpret(program, program.functions.front(), inputs);
}

inline Array run1(const std::string& text, const std::vector<Array>& inputs) { return run_text(text, inputs).at(0); }

}  // namespace tj::testing
