"""tensorjit: a tracing JIT compiler for tensor programs on x86-64 CPUs.

    import numpy as np, tensorjit as tj

    @tj.jit
    def block(x, w, b):
        return tj.gelu(x @ w + b, approximate="tanh")

    y = block(x, w, b)    # traced and compiled once per signature, then cached
    block.stats()         # {'hits': ..., 'misses': ..., 'compiles': ...}
    print(tj.explain(block, x, w, b))

Functions take NumPy arrays, torch tensors, tensorjit.Tensors and numbers.
A jitted function returns what it was given: NumPy arrays for NumPy inputs,
torch tensors for torch inputs, with no copies either way. tensorjit computes
no gradients: torch tensors that require grad are read as values. Arguments that are
not arrays (numbers, strings, None) are static: each distinct value traces
its own version, as jax.jit's static arguments do.
"""
import functools
import json

from ._tensorjit import *  # noqa: F401,F403  (the ops and Tensor)
from ._tensorjit import Error, JitFunction, Tensor, TracingError  # noqa: F401

__all__ = [name for name in dir() if not name.startswith("_")]


def jit(fn=None, *, backend="auto", fuse=True, cache_capacity=64):
    """Trace `fn` on tracer tensors once per input signature, compile it, cache it.

    Usable as @jit, @jit(backend="interp") or jit(fn, fuse=False).
    backend: "auto" (the fastest built backend), "llvm" or "interp".
    fuse: False compiles every op as its own kernel (the eager baseline).
    cache_capacity: compiled signatures kept; the least recently used go first.
    """
    def wrap(f):
        jitted = JitFunction(f, backend=backend, fuse=fuse, cache_capacity=cache_capacity)
        functools.update_wrapper(jitted, f)
        return jitted

    return wrap if fn is None else wrap(fn)


def explain(f, *args, format="text", **kwargs):
    """The per-kernel report of `f` (a jitted function) for a call with these
    arguments: a string, or with format="json" the same report as a dict."""
    if not isinstance(f, JitFunction):
        raise TypeError(f"explain: expected a function made by tensorjit.jit, got {type(f).__name__}")
    if format == "json":
        return json.loads(f.explain_json(*args, **kwargs))
    if format != "text":
        raise ValueError(f"explain: format must be 'text' or 'json', got {format!r}")
    return f.explain(*args, **kwargs)
