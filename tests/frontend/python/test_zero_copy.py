# Arrays cross between NumPy / PyTorch and tensorjit without copies, proven
# by pointer identity; non-contiguous, negative-stride and read-only inputs
# work and are never written.
import gc

import numpy as np
import torch

import tensorjit as tj
from conftest import assert_close, rand


def address(a):
    return a.data_ptr() if isinstance(a, torch.Tensor) else a.__array_interface__["data"][0]


def test_tensor_wraps_numpy_memory():
    x = rand((3, 4), 1)
    t = tj.Tensor(x)
    assert address(t.numpy()) == address(x)
    x[0, 0] = 42.0  # shared, so the tensor sees it
    assert t.numpy()[0, 0] == 42.0


def test_jit_passes_arrays_through_without_copies():
    f = tj.jit(lambda x, y: (x, y))
    x = rand((4, 5), 1)
    xt = torch.from_numpy(rand((4, 5), 2))
    a, b = f(x, x[1:])
    assert address(a) == address(x) and address(b) == address(x) + 5 * 4
    at, bt = f(xt, xt[1:])
    assert isinstance(at, torch.Tensor)
    assert at.data_ptr() == xt.data_ptr() and bt.data_ptr() == xt.data_ptr() + 5 * 4


def test_views_computed_inside_jit_are_fresh_arrays():
    # As with jax.jit, a result never aliases an input unless it is that input.
    x = rand((4, 5), 1)
    flat = tj.jit(lambda x: x.reshape(-1))(x)
    flat[0] = 100.0
    assert x[0, 0] != 100.0


def test_torch_tensors_that_require_grad_are_read_as_values():
    w = torch.nn.Parameter(torch.ones(3))
    out = tj.jit(lambda w: w * 2)(w)
    assert torch.equal(out, torch.full((3,), 2.0)) and not out.requires_grad


def test_results_outlive_inputs_and_the_function():
    f = tj.jit(lambda x: x.reshape(-1))
    out = f(rand((2, 3), 7))  # the input array's only reference is the result's
    expected = rand((2, 3), 7).reshape(-1)
    del f
    gc.collect()
    assert_close(out, expected)
    g = tj.jit(lambda x: x * 2)
    out = g(rand((5,), 3))
    del g
    gc.collect()
    assert_close(out, rand((5,), 3) * 2)


def test_computed_results_are_owned_arrays_reused_across_calls():
    f = tj.jit(lambda x: tj.exp(x))
    x = rand((1024,), 1)
    first = f(x)
    first_value = first.copy()
    second = f(x)
    assert address(first) != address(second)  # the first result is still alive: not reused under it
    assert_close(first, first_value)
    assert first.flags.writeable and second.flags.owndata is False  # NumPy views of our buffer


def test_torch_results_share_memory_with_the_buffer():
    f = tj.jit(lambda x: x + 1)
    out = f(torch.ones(4, 4))
    assert torch.equal(out, torch.full((4, 4), 2.0))
    assert tj.Tensor(out).numpy().__array_interface__["data"][0] == out.data_ptr()


def test_non_contiguous_and_negative_stride_inputs():
    f = tj.jit(lambda x, y: x * 2 + y)
    base = rand((6, 8), 1)
    x = base[::2, ::-3]  # strided and reversed
    y = base.T[:3, :3]
    assert not x.flags.c_contiguous and x.strides[1] < 0
    assert_close(f(x, y), x * 2 + y)
    assert_close(f(torch.from_numpy(base).t()[:3, :3], torch.from_numpy(y.copy())), base.T[:3, :3] * 2 + y)


def test_read_only_inputs_are_read_and_never_written():
    x = rand((16, 16), 1)
    x.setflags(write=False)
    before = x.copy()
    out = tj.jit(lambda x: tj.softmax(x) + x)(x)
    assert_close(out, torch.softmax(torch.from_numpy(before), -1).numpy() + before, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(x, before)


def test_unaligned_and_byte_swapped_arrays_are_copied_once_and_right():
    raw = np.zeros(4 * 10 + 1, dtype=np.uint8)
    unaligned = np.frombuffer(raw.data, dtype=np.float32, count=10, offset=1)
    assert_close(tj.jit(lambda x: x + 1)(unaligned), np.ones(10, np.float32))
    swapped = rand((5,), 1).astype(">f4")
    assert_close(tj.jit(lambda x: x * 3)(swapped), swapped.astype(np.float32) * 3)


def test_unaligned_torch_tensors_are_copied_and_right():
    raw = bytearray(4 * 10 + 1)
    values = np.arange(10, dtype=np.float32)
    raw[1:] = values.tobytes()
    unaligned = torch.frombuffer(raw, dtype=torch.float32, count=10, offset=1)
    assert unaligned.data_ptr() % 4 == 1
    out = tj.jit(lambda x: x * 2 + 1)(unaligned)
    assert torch.equal(out, torch.from_numpy(values * 2 + 1))
    copied = tj.jit(lambda x: x)(unaligned)  # passed through: the aligned copy itself
    assert copied.data_ptr() % 4 == 0 and torch.equal(copied, unaligned)
    eager = tj.tensor(unaligned) * 2  # an eager op on the interpreter
    assert np.array_equal(eager.numpy(), values * 2)
