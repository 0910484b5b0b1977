# @tensorjit.jit semantics: caching per signature, recompiles and why,
# static arguments, closures over weights, argument and result trees,
# methods, nesting, threads, explain and stats.
import threading

import numpy as np
import pytest
import torch

import tensorjit as tj
from conftest import assert_close, rand


def test_caches_per_signature_and_says_why_it_missed():
    @tj.jit
    def f(x, y):
        return tj.relu(x * y + 1.0)

    a, b = rand((4, 8), 1), rand((4, 8), 2)
    assert_close(f(a, b), np.maximum(a * b + 1, 0))
    f(a, b)
    f(rand((4, 8), 3), b)  # new values, same signature: a hit
    s = f.stats()
    assert (s["misses"], s["hits"], s["compiles"], s["cached"]) == (1, 2, 1, 1)
    f(rand((5, 8), 1), rand((5, 8), 2))
    s = f.stats()
    assert s["compiles"] == 2 and "f32[4,8] contiguous -> f32[5,8] contiguous" in s["last_miss"]
    f(a.T, b.T)  # non-contiguous strides are part of the signature
    assert f.stats()["compiles"] == 3
    f(a.astype(np.float64), b.astype(np.float64))
    assert f.stats()["compiles"] == 4


def test_keeps_the_wrapped_functions_name_and_doc():
    @tj.jit
    def scaled_softmax(x):
        """Softmax of twice x."""
        return tj.softmax(2 * x)

    assert scaled_softmax.__name__ == "scaled_softmax"
    assert scaled_softmax.__doc__ == "Softmax of twice x."
    assert isinstance(scaled_softmax, tj.JitFunction)


def test_decorator_options():
    @tj.jit(backend="interp", fuse=False, cache_capacity=2)
    def f(x):
        return x + 1

    for n in range(1, 5):
        f(np.zeros(n, np.float32))
    s = f.stats()
    assert s["compiles"] == 4 and s["cached"] == 2 and s["evictions"] == 2
    with pytest.raises(tj.Error, match="unknown backend"):
        tj.jit(lambda x: x, backend="cuda")


def test_closure_over_weights_keeps_the_values_seen_when_traced():
    w = rand((8, 3), 1)
    b = rand((3,), 2)

    @tj.jit
    def layer(x):
        return tj.gelu(x @ w + b)

    x = rand((5, 8), 3)
    expected = torch.nn.functional.gelu(torch.from_numpy(x @ w + b)).numpy()
    assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    w[:] = 0  # like jax.jit: captured arrays are constants of the trace
    assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    assert layer.stats()["compiles"] == 1


def test_non_array_arguments_are_static():
    @tj.jit
    def f(x, scale, axis=-1, activation="relu"):
        y = tj.softmax(x * scale, axis=axis)
        return tj.relu(y - 0.1) if activation == "relu" else y

    x = rand((3, 4), 1)
    t = torch.from_numpy(x)
    assert_close(f(x, 2.0), torch.relu(torch.softmax(t * 2, -1) - 0.1).numpy())
    assert_close(f(x, 2.0, axis=0, activation=None), torch.softmax(t * 2, 0).numpy())
    assert_close(f(x, scale=3.0), torch.relu(torch.softmax(t * 3, -1) - 0.1).numpy())
    f(x, 2.0)
    s = f.stats()
    assert s["static_variants"] == 3 and s["compiles"] == 3 and s["hits"] == 1


def test_argument_and_result_trees():
    @tj.jit
    def f(pair, params):
        x, y = pair
        return {"bad": 1} if False else (x + params["b"], [y * params["w"], None])

    x, y, w, b = rand((2, 3), 1), rand((3,), 2), rand((3,), 3), rand((3,), 4)
    out = f((x, y), {"w": w, "b": b})
    assert isinstance(out, tuple) and isinstance(out[1], list) and out[1][1] is None
    assert_close(out[0], x + b)
    assert_close(out[1][0], y * w)


def test_results_that_are_inputs_or_constants():
    @tj.jit
    def f(x):
        return x, x.reshape(-1), 2.0

    x = rand((2, 3), 1)
    a, b, c = f(x)
    assert_close(a, x)
    assert_close(b, x.reshape(-1))
    assert float(c) == 2.0


def test_methods_bind_self_as_a_static_argument():
    class Model:
        def __init__(self, scale):
            self.scale = scale

        @tj.jit
        def __call__(self, x):
            return x * self.scale

    x = rand((4,), 1)
    assert_close(Model(2.0)(x), x * 2)
    assert_close(Model(3.0)(x), x * 3)


def test_nested_jit_functions_inline():
    inner = tj.jit(lambda x: tj.exp(x) + 1)

    @tj.jit
    def outer(x):
        return inner(x) * 2

    x = rand((3, 5), 1)
    assert_close(outer(x), (np.exp(x) + 1) * 2, rtol=2e-6)
    assert inner.stats()["compiles"] == 0  # traced into outer's graph


def test_tensorjit_tensor_inputs_give_tensors():
    f = tj.jit(lambda x: x + 1)
    out = f(tj.Tensor(rand((3,), 1)))
    assert isinstance(out, tj.Tensor)


def test_calls_from_many_threads_compile_once():
    f = tj.jit(lambda x: tj.softmax(x) * 3)
    x = rand((64, 33), 1)
    expected = torch.softmax(torch.from_numpy(x), -1).numpy() * 3
    results = []

    def work():
        for _ in range(20):
            results.append(f(x))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and f.stats()["compiles"] == 1
    for r in results:
        assert_close(r, expected, rtol=1e-5, atol=1e-7)


def test_explain_reports_kernels_and_backends():
    f = tj.jit(lambda x, w: tj.softmax(x @ w))
    report = tj.explain(f, rand((8, 16), 1), rand((16, 32), 2))
    assert report.startswith("tensorjit explain: @traced, 2 kernels")
    assert "kernel 0 (matmul)" in report and "kernel 1 (reduce)" in report
    assert "llvm" in report
    data = tj.explain(f, rand((8, 16), 1), rand((16, 32), 2), format="json")
    assert [k["kind"] for k in data["kernels"]] == ["matmul", "reduce"]
    assert data["kernels"][1]["limit"] == "triad" and data["kernels"][1]["run_ms"] > 0
    assert set(data["kernels"][0]["compile_ms"]) == {"lower", "emit", "optimize", "machine_code"}
    assert data["max_error"]["scaled"] < 1e-5
    with pytest.raises(ValueError, match="format"):
        tj.explain(f, rand((8, 16), 1), rand((16, 32), 2), format="xml")
    with pytest.raises(TypeError, match="made by tensorjit.jit"):
        tj.explain(lambda x: x, 1)
