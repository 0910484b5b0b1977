// Composite functions, written in primitives so that tracing exposes them
// to fusion (softmax and layer norm become one row kernel each).
#include <cmath>

#include "ir/error.h"
#include "tensorjit/ops.h"

namespace tj {

namespace {

int64_t checked_axis(const Tensor& x, int64_t axis, const char* what) {
  const std::optional<int> a = normalize_axis(axis, x.rank());
  if (!a) fail("{}: axis {} is out of range for {}", what, axis, type_to_string({x.dtype(), x.shape()}));
  return *a;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) {
  const int64_t a = checked_axis(x, axis, "softmax");
  if (x.numel() == 0) return x;  // nothing to normalize; max over an empty axis has no value
  const Tensor e = exp(x - x.max({a}, true));  // shifted by the max: exp cannot overflow
  return e / e.sum({a}, true);
}

Tensor log_softmax(const Tensor& x, int64_t axis) {
  const int64_t a = checked_axis(x, axis, "log_softmax");
  if (x.numel() == 0) return x;
  const Tensor shifted = x - x.max({a}, true);
  return shifted - log(exp(shifted).sum({a}, true));
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  if (x.rank() == 0) fail("layer_norm: needs rank 1 or more, got {}", type_to_string({x.dtype(), x.shape()}));
  const Tensor mu = x.mean({-1}, true);
  const Tensor centred = x - mu;
  const Tensor variance = (centred * centred).mean({-1}, true);  // biased, as torch.nn.functional.layer_norm
  return centred * rsqrt(variance + eps) * gamma + beta;
}

// One statement per step: run eagerly on large tensors, the temporaries of
// one expression all live until its end (9 of them for the tanh form).
Tensor gelu(const Tensor& x, bool tanh_approx) {
  Tensor t;
  if (tanh_approx) {
    const double k = std::sqrt(2.0 / M_PI);
    t = 0.044715 * x * x * x;
    t = tanh(k * (x + t));
  } else {
    t = erf(x * M_SQRT1_2);
  }
  t = 1.0 + t;
  return 0.5 * x * t;
}

Tensor silu(const Tensor& x) { return x * sigmoid(x); }

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const Tensor y = matmul(x, weight.T());
  return bias.defined() ? y + bias : y;
}

}  // namespace tj
