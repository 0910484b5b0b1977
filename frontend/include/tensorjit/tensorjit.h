// The one public header of tensorjit: tensors, ops, jit and threads.
#pragma once

#include "runtime/parallel.h"
#include "tensorjit/jit.h"
#include "tensorjit/ops.h"
#include "tensorjit/tensor.h"
