# Every op and composite of the tensorjit module against PyTorch (float32,
# the same precision) and NumPy, eagerly and jitted on each backend, over
# shapes with 0-size dims, broadcast dims, vector tails, non-contiguous
# views and NaN/Inf.
#
# Tolerances: elementwise float32 ops agree within a few ulps (our vector
# math is within 4 ulp of correctly rounded, torch's within a similar
# bound), so rtol=1e-5 with atol=1e-6 for results near zero. Reductions and
# matmul sum n terms: torch accumulates in float32 with error up to about
# n·eps·sum|x|; we accumulate reductions in double and matmuls in float per
# block of 256 terms, the blocks in double, so they use rtol=1e-4 and an
# atol scaled by the number of terms.
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tensorjit as tj
from conftest import as_tensor, assert_close, non_contiguous, rand, run

SHAPES = [(), (0,), (1,), (7,), (3, 5), (4, 17), (2, 0, 3), (2, 3, 33)]

UNARY = [
    ("exp", tj.exp, torch.exp, {}),
    ("log", tj.log, torch.log, {"low": 0.01, "high": 50.0}),
    ("tanh", tj.tanh, torch.tanh, {}),
    ("sigmoid", tj.sigmoid, torch.sigmoid, {}),
    ("relu", tj.relu, torch.relu, {}),
    ("sqrt", tj.sqrt, torch.sqrt, {"low": 0.0, "high": 50.0}),
    ("rsqrt", tj.rsqrt, torch.rsqrt, {"low": 0.01, "high": 50.0}),
    ("erf", tj.erf, torch.erf, {}),
    ("abs", tj.abs, torch.abs, {}),
    ("negative", tj.negative, torch.neg, {}),
    ("reciprocal", tj.reciprocal, torch.reciprocal, {"low": 0.1, "high": 5.0}),
    ("silu", tj.silu, F.silu, {}),
    ("gelu", tj.gelu, F.gelu, {}),
    ("gelu_tanh", lambda x: tj.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), {}),
]


@pytest.mark.parametrize("name,ours,theirs,domain", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_matches_torch(mode, name, ours, theirs, domain, shape):
    x = rand(shape, seed=len(shape), **domain)
    assert_close(run(mode, ours, x), theirs(torch.from_numpy(x)).numpy(), what=name)


@pytest.mark.parametrize("name,ours,theirs,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_on_non_contiguous_input(mode, name, ours, theirs, domain):
    x = rand((5, 19), seed=3, **domain)
    assert_close(run(mode, ours, non_contiguous(x)), theirs(torch.from_numpy(x)).numpy(), what=name)


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 88.8, -104.0, 3.4e38], dtype=np.float32)


@pytest.mark.parametrize("name,ours,theirs,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_special_values_match_torch(mode, name, ours, theirs, domain):
    with np.errstate(all="ignore"):
        expected = theirs(torch.from_numpy(SPECIALS.copy())).numpy()
    assert_close(run(mode, ours, SPECIALS), expected, what=name)


BINARY = [
    ("add", tj.add, torch.add),
    ("subtract", tj.subtract, torch.sub),
    ("multiply", tj.multiply, torch.mul),
    ("divide", tj.divide, torch.div),
    ("maximum", tj.maximum, torch.maximum),
    ("minimum", tj.minimum, torch.minimum),
    ("power", tj.power, torch.pow),
    ("operator+", lambda a, b: tj.Tensor(a) + b, torch.add),
    ("operator-", lambda a, b: tj.Tensor(a) - b, torch.sub),
    ("operator*", lambda a, b: tj.Tensor(a) * b, torch.mul),
    ("operator/", lambda a, b: tj.Tensor(a) / b, torch.div),
]
BROADCAST_PAIRS = [((3, 5), (3, 5)), ((3, 1), (1, 4)), ((5,), (2, 5)), ((2, 1, 3), (4, 1)), ((0, 3), (1, 3)), ((), (4, 9))]


@pytest.mark.parametrize("name,ours,theirs", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_broadcasting_matches_torch(mode, name, ours, theirs, shapes):
    a = rand(shapes[0], seed=1, low=0.5 if name == "power" else -3.0)
    b = rand(shapes[1], seed=2, low=0.5 if name in ("divide", "operator/") else -3.0)
    assert_close(run(mode, ours, a, b), theirs(torch.from_numpy(a), torch.from_numpy(b)).numpy(), rtol=2e-5, what=name)


@pytest.mark.parametrize("name,ours,theirs", BINARY[:7], ids=[b[0] for b in BINARY[:7]])
def test_binary_with_nan_and_inf(mode, name, ours, theirs):
    a = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0, 2.0, np.nan, -1.0], dtype=np.float32)
    b = np.array([1.0, np.nan, np.inf, 2.0, 0.0, -np.inf, np.nan, 0.5], dtype=np.float32)
    with np.errstate(all="ignore"):
        expected = theirs(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert_close(run(mode, ours, a, b), expected, what=name)


def test_binary_with_python_numbers(mode):
    x = rand((4, 9), seed=5)
    assert_close(run(mode, lambda x: (2.0 - as_tensor(x)) * 3 / 0.5 + 1 - (-as_tensor(x)) ** 2, x),
                 (2.0 - x) * 3 / 0.5 + 1 - x ** 2, rtol=2e-6)


COMPARISONS = [
    ("equal", tj.equal, np.equal), ("not_equal", tj.not_equal, np.not_equal), ("less", tj.less, np.less),
    ("less_equal", tj.less_equal, np.less_equal), ("greater", tj.greater, np.greater),
    ("greater_equal", tj.greater_equal, np.greater_equal),
]


@pytest.mark.parametrize("name,ours,theirs", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons_match_numpy(mode, name, ours, theirs):
    a = np.array([[1.0, 2.0, np.nan, 4.0], [0.0, -0.0, np.inf, 3.0]], dtype=np.float32)
    b = np.array([2.0, 2.0, np.nan, -np.inf], dtype=np.float32)
    out = run(mode, ours, a, b)
    assert out.dtype == np.bool_
    assert_close(out, theirs(a, b), what=name)


def test_where_matches_torch(mode):
    c = rand((4, 1, 6), seed=1) > 0
    a, b = rand((5, 6), seed=2), rand((4, 1, 1), seed=3)
    expected = torch.where(torch.from_numpy(c), torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert_close(run(mode, tj.where, c, a, b), expected)


REDUCTIONS = [("sum", tj.sum, np.sum), ("mean", tj.mean, np.mean), ("max", tj.max, np.max), ("min", tj.min, np.min)]
AXES = [(None, False), (0, False), (-1, True), ((0, 2), False), ((0, 2), True)]


@pytest.mark.parametrize("name,ours,theirs", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis,keepdims", AXES, ids=str)
def test_reductions_match_numpy(mode, name, ours, theirs, axis, keepdims):
    x = rand((6, 5, 19), seed=4)
    expected = theirs(x.astype(np.float64), axis=axis, keepdims=keepdims).astype(np.float32)
    fn = lambda x: ours(x, axis=axis, keepdims=keepdims)
    assert_close(run(mode, fn, x), expected, rtol=1e-5, atol=1e-5, what=name)
    assert_close(run(mode, fn, non_contiguous(x)), expected, rtol=1e-5, atol=1e-5, what=name + " non-contiguous")


def test_reduction_methods_and_empty_axes(mode):
    x = rand((3, 0, 4), seed=1)
    assert_close(run(mode, lambda x: as_tensor(x).sum(axis=1), x), np.zeros((3, 4), np.float32))
    y = rand((3, 4), seed=2)
    assert_close(run(mode, lambda y: as_tensor(y).max(axis=0, keepdims=True), y), y.max(axis=0, keepdims=True))


def test_max_propagates_nan_like_torch(mode):
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    assert_close(run(mode, lambda x: tj.max(x, axis=1), x), torch.amax(torch.from_numpy(x), dim=1).numpy())


MATMUL_SHAPES = [((3, 4), (4, 5)), ((1, 33), (33, 17)), ((2, 3, 8), (8, 6)), ((2, 5, 7), (2, 7, 9)), ((0, 4), (4, 3)),
                 ((4, 0), (0, 3)), ((64, 96), (96, 40))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_torch(mode, shapes):
    a, b = rand(shapes[0], seed=1), rand(shapes[1], seed=2)
    expected = torch.matmul(torch.from_numpy(a).double(), torch.from_numpy(b).double()).float().numpy()
    k = shapes[0][-1]
    assert_close(run(mode, tj.matmul, a, b), expected, rtol=1e-4, atol=1e-5 * max(k, 1), what="matmul")
    assert_close(run(mode, lambda a, b: as_tensor(a) @ b, a, b), expected,
                 rtol=1e-4, atol=1e-5 * max(k, 1), what="@")


def test_matmul_on_transposed_views(mode):
    a, b = rand((9, 6), seed=1), rand((5, 9), seed=2)
    expected = a.T.astype(np.float64) @ b.T.astype(np.float64)
    assert_close(run(mode, tj.matmul, a.T, b.T), expected.astype(np.float32), rtol=1e-4, atol=1e-4)


COMPOSITE_SHAPES = [(1, 1), (4, 17), (2, 3, 64), (0, 8), (5, 1000)]


@pytest.mark.parametrize("shape", COMPOSITE_SHAPES, ids=str)
def test_softmax_and_log_softmax_match_torch(mode, shape):
    x = rand(shape, seed=7, low=-20, high=20)
    t = torch.from_numpy(x)
    assert_close(run(mode, tj.softmax, x), torch.softmax(t, -1).numpy(), rtol=1e-5, atol=1e-7, what="softmax")
    assert_close(run(mode, lambda x: tj.log_softmax(x, axis=0), x), torch.log_softmax(t, 0).numpy(), rtol=1e-5, atol=1e-5,
                 what="log_softmax")


@pytest.mark.parametrize("shape", COMPOSITE_SHAPES, ids=str)
def test_layer_norm_matches_torch(mode, shape):
    x, w, b = rand(shape, seed=1), rand(shape[-1:], seed=2), rand(shape[-1:], seed=3)
    expected = F.layer_norm(torch.from_numpy(x), shape[-1:], torch.from_numpy(w), torch.from_numpy(b), eps=1e-5).numpy()
    assert_close(run(mode, tj.layer_norm, x, w, b), expected, rtol=1e-4, atol=1e-5)
    plain = F.layer_norm(torch.from_numpy(x), shape[-1:]).numpy()
    assert_close(run(mode, lambda x: tj.layer_norm(x, eps=1e-5), x), plain, rtol=1e-4, atol=1e-5)


def test_linear_matches_torch(mode):
    x, w, b = rand((3, 7, 16), seed=1), rand((10, 16), seed=2), rand((10,), seed=3)
    expected = F.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    assert_close(run(mode, tj.linear, x, w, b), expected, rtol=1e-4, atol=2e-4)
    assert_close(run(mode, lambda x, w: tj.linear(x, w), x, w), F.linear(torch.from_numpy(x), torch.from_numpy(w)).numpy(),
                 rtol=1e-4, atol=2e-4)


def test_views_and_indexing_match_numpy(mode):
    x = rand((4, 6, 5), seed=1)
    cases = [
        (lambda t: t[1], lambda a: a[1]),
        (lambda t: t[:, 1:5:2], lambda a: a[:, 1:5:2]),
        (lambda t: t[::-1, :, -1], lambda a: a[::-1, :, -1]),
        (lambda t: t[..., None, 2:], lambda a: a[..., None, 2:]),
        (lambda t: t[-3:, ::-2, None], lambda a: a[-3:, ::-2, None]),
        (lambda t: t[2:2], lambda a: a[2:2]),
        (lambda t: t.reshape(6, -1), lambda a: a.reshape(6, -1)),
        (lambda t: t.T, lambda a: a.T),
        (lambda t: t.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2)),
        (lambda t: t.swapaxes(0, 2), lambda a: a.swapaxes(0, 2)),
        (lambda t: t.broadcast_to((2, 4, 6, 5)), lambda a: np.broadcast_to(a, (2, 4, 6, 5))),
        (lambda t: tj.concatenate([t, t * 2], axis=1), lambda a: np.concatenate([a, a * 2], axis=1)),
        (lambda t: t.astype("int32"), lambda a: a.astype(np.int32)),
        (lambda t: tj.astype(t > 0, np.float32), lambda a: (a > 0).astype(np.float32)),
    ]
    for i, (ours, theirs) in enumerate(cases):
        assert_close(run(mode, lambda x, ours=ours: ours(as_tensor(x)), x), theirs(x), what=f"case {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_other_dtypes_match_numpy(mode, dtype):
    a = (rand((3, 5), seed=1) * 4).astype(dtype)
    b = (rand((5,), seed=2) * 4).astype(dtype)
    b[b == 0] = 1
    assert_close(run(mode, lambda a, b: tj.maximum(a + b, a * b) - b, a, b), np.maximum(a + b, a * b) - b)
    assert run(mode, tj.add, a, b).dtype == dtype


def test_torch_inputs_give_torch_outputs(mode):
    if mode in ("eager", "eager_compiled"):
        pytest.skip("eager ops return tensorjit.Tensor")
    x = torch.randn(4, 9)
    out = tj.jit(lambda x: tj.softmax(x) * 2, backend=mode)(x)
    assert isinstance(out, torch.Tensor)
    assert torch.allclose(out, torch.softmax(x, -1) * 2, rtol=1e-5, atol=1e-7)
    mask = tj.jit(lambda x: x > 0, backend=mode)(x)  # bool crosses through NumPy's bridge (torch 1.13 DLPack has no bool)
    assert mask.dtype == torch.bool and torch.equal(mask, x > 0)


def test_eager_ops_compile_once_per_signature():
    saved = tj.get_eager_compile_min_elements()
    tj.set_eager_compile_min_elements(1000)
    try:
        before = tj.eager_stats()["compiles"]
        small, large = rand((999,), seed=3), rand((40, 25), seed=4)
        assert_close(run("eager", tj.tanh, small), np.tanh(small), what="tanh of 999 (interpreted)")
        assert tj.eager_stats()["compiles"] == before
        for scale in (2.0, 3.0):  # a number operand is an input of the kernel: one compile
            assert_close(run("eager", lambda x: tj.tanh(x) * scale, large), np.tanh(large) * scale, what="tanh(x) * scale")
        assert tj.eager_stats()["compiles"] == before + 2
        with pytest.raises(tj.Error):
            tj.set_eager_compile_min_elements(-1)
    finally:
        tj.set_eager_compile_min_elements(saved)
