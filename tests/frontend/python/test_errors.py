# Bad input raises Python exceptions carrying the C++ message (op, operands,
# shapes); nothing crashes. tensorjit.Error is a ValueError; value-dependent
# control flow inside jit raises tensorjit.TracingError.
import numpy as np
import pytest
import torch

import tensorjit as tj
from conftest import rand


def test_error_is_a_value_error():
    assert issubclass(tj.Error, ValueError) and issubclass(tj.TracingError, tj.Error)


def test_shape_mismatch_names_the_op_and_shapes():
    with pytest.raises(tj.Error, match=r"add.*f32\[3\].*f32\[4\]"):
        tj.add(rand((3,)), rand((4,)))
    with pytest.raises(tj.Error, match=r"matmul.*f32\[2,3\].*f32\[4,5\]"):
        tj.jit(lambda a, b: a @ b)(rand((2, 3)), rand((4, 5)))


def test_dtype_mismatch_and_unsupported_dtypes():
    with pytest.raises(tj.Error, match="f32.*f64|f64.*f32"):
        tj.add(rand((3,)), rand((3,), dtype=np.float64))
    with pytest.raises(tj.Error, match="float16 is not supported"):
        tj.exp(np.zeros(3, np.float16))
    with pytest.raises(tj.Error, match="torch dtype torch.float16 is not supported"):
        tj.jit(lambda x: x)(torch.zeros(3, dtype=torch.float16))
    with pytest.raises(tj.Error, match="not supported"):
        tj.astype(rand((2,)), "complex64")


def test_value_dependent_branching_raises_a_tracing_error():
    @tj.jit
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(tj.TracingError, match=r"bool\(\): a traced tensor \(bool\[\]\)"):
        f(rand((3,)))
    for read in (float, lambda t: t.item(), np.asarray, lambda t: t.numpy()):
        with pytest.raises(tj.TracingError, match="no value while tensorjit.jit traces"):
            tj.jit(lambda x, read=read: read(x.sum()))(rand((3,)))


def test_failed_traces_are_not_cached_and_the_function_recovers():
    calls = []

    @tj.jit
    def f(x, y):
        calls.append(1)
        return x + y

    with pytest.raises(tj.Error):
        f(rand((3,)), rand((4,)))
    assert f.stats()["cached"] == 0
    f(rand((3,)), rand((3,)))
    assert f.stats()["compiles"] == 1


def test_python_exceptions_in_the_function_propagate():
    @tj.jit
    def f(x):
        raise KeyError("from the user's code")

    with pytest.raises(KeyError, match="from the user's code"):
        f(rand((2,)))


def test_bad_arguments():
    with pytest.raises(tj.Error, match="expected an array or a number, got str"):
        tj.exp("x")
    with pytest.raises(tj.Error, match="gelu: approximate='fast'"):
        tj.gelu(rand((2,)), approximate="fast")
    with pytest.raises(tj.Error, match="index: 3 indices for the 2 dims"):
        tj.Tensor(rand((2, 2)))[0, 0, 0]
    with pytest.raises(tj.Error, match="out of range for axis 0 of size 2"):
        tj.Tensor(rand((2, 2)))[5]
    with pytest.raises(tj.Error, match="ndarray is not supported in an index"):
        tj.Tensor(rand((2, 2)))[np.array([0, 1])]
    with pytest.raises(tj.Error, match="returned a str"):
        tj.jit(lambda x: "no")(rand((2,)))
    with pytest.raises(tj.Error, match="reshape"):
        tj.Tensor(rand((2, 3))).reshape(4, 2)


def test_escaped_traced_tensors_report_instead_of_crashing():
    leaked = []

    @tj.jit
    def f(x):
        leaked.append(x)
        return x * 2

    f(rand((2,)))
    with pytest.raises(tj.Error, match="escaped"):
        leaked[0].numpy()
    with pytest.raises(tj.Error, match="escaped|finished"):
        (leaked[0] + 1).numpy()


def test_a_bad_eager_compile_threshold_in_the_environment_is_an_error():
    """TJ_EAGER_COMPILE_MIN is read at the first eager op that needs it; a
    bad value is an error naming it, and setting the threshold still works."""
    import os
    import subprocess
    import sys
    script = (
        "import numpy as np, tensorjit as tj\n"
        "x = np.ones(20000, np.float32)\n"
        "try:\n"
        "    tj.tanh(x)\n"
        "except tj.Error as e:\n"
        "    print('error:', e)\n"
        "tj.set_eager_compile_min_elements(0)\n"
        "print('then:', float(tj.tanh(x).numpy()[0]))\n")
    env = dict(os.environ, TJ_EAGER_COMPILE_MIN="12x")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "error: TJ_EAGER_COMPILE_MIN=12x is not an element count" in out.stdout
    assert "then: 0.76159" in out.stdout
