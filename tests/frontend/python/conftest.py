# Shared helpers of the Python tests: random inputs and float comparison.
# Run by ctest as `python3 -m pytest tests/frontend/python` with
# PYTHONPATH=build/python (see tests/CMakeLists.txt).
import numpy as np
import pytest

import tensorjit as tj


def rand(shape, seed=0, dtype=np.float32, low=-3.0, high=3.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def non_contiguous(a):
    """The same values as `a` in a non-contiguous view: every other column of a wider array."""
    if a.ndim == 0 or a.size == 0:
        return a
    wide = np.zeros(a.shape[:-1] + (a.shape[-1] * 2,), dtype=a.dtype)
    wide[..., ::2] = a
    view = wide[..., ::2]
    assert not view.flags.c_contiguous or a.shape[-1] == 1
    return view


def as_tensor(x):
    """Inside jit the arguments are already tensors; eagerly, wrap the array (no copy)."""
    return x if isinstance(x, tj.Tensor) else tj.Tensor(x)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, what=""):
    """Floats within rtol/atol, with NaN where the reference has NaN and the same infinities."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.dtype == np.bool_ or np.issubdtype(expected.dtype, np.integer):
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.fixture(params=["eager", "eager_compiled", "llvm", "interp"])
def mode(request):
    """How an op is run: eagerly (tensorjit functions on arrays; small ops on
    the interpreter, or every op compiled) or jitted on a backend."""
    return request.param


def run(mode, fn, *args):
    """fn(*args) in `mode`, as a NumPy array."""
    if mode in ("eager", "eager_compiled"):
        saved = tj.get_eager_compile_min_elements()
        tj.set_eager_compile_min_elements(0 if mode == "eager_compiled" else saved)
        try:
            out = fn(*args)
        finally:
            tj.set_eager_compile_min_elements(saved)
        return out.numpy() if isinstance(out, tj.Tensor) else out
    return tj.jit(fn, backend=mode)(*args)
