"""Timing helper shared by the Python examples: the median of several runs."""
import statistics
import time


def median_ms(fn, *args, repeat=20):
    fn(*args)  # warm up: traces and compiles a jitted function
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def report(rows):
    """rows: (label, milliseconds); speedups are against the first row."""
    base = rows[0][1]
    for label, ms in rows:
        print(f"  {label:<28} {ms:9.3f} ms   {base / ms:5.2f}x")
