"""Per-call overhead of a jitted function on small inputs: 10 elementwise
ops on 1,024 floats, called from Python with a NumPy array and a torch
tensor, against the same function run eagerly by torch and NumPy, in one
process. Prints the best of 5 repeats of 20,000 calls, in microseconds.

    PYTHONPATH=build/python python3 bench/call_overhead.py
"""
import timeit

import numpy as np
import torch

import tensorjit


def ten_ops(x):
    x = x * 1.5
    x = x + 0.5
    x = x * 0.9
    x = x - 0.1
    x = x * 1.1
    x = x + 0.2
    x = x * 0.8
    x = x - 0.3
    x = x * 1.2
    return x + 0.4


def main():
    torch.set_num_threads(tensorjit.get_num_threads())
    jitted = tensorjit.jit(ten_ops)
    x = np.random.default_rng(0).standard_normal(1024).astype(np.float32)
    xt = torch.from_numpy(x.copy())
    contenders = [("tensorjit, NumPy in and out", jitted, x), ("tensorjit, torch in and out", jitted, xt),
                  ("torch eager", ten_ops, xt), ("NumPy eager", ten_ops, x)]
    calls = 20000
    for name, fn, arg in contenders:
        fn(arg)  # compile, warm caches
        best = min(timeit.repeat(lambda: fn(arg), number=calls, repeat=5)) / calls * 1e6
        print(f"{name}: {best:.2f} us per call")


if __name__ == "__main__":
    main()
