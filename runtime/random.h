// Deterministic random arrays: the same (type, seed) gives the same values on
// every machine (own generator and transform, no implementation-defined
// std:: distributions). Floats are standard normal, integers uniform in
// [-10, 10], bools fair coin flips.
#pragma once

#include <cstdint>

#include "ir/array.h"

namespace tj {

Array random_array(const TensorType& type, uint64_t seed);

}  // namespace tj
