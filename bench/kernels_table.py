"""Turns bench/results/bench_kernels.json (Google Benchmark's JSON output of
bench_kernels) into a markdown table: per workload and thread count, eager,
unfused and fused time, fused's speedup over each, and the fused kernel's
fraction of the limit measured in the same run (triad or read bandwidth, or
the FMA peak).

    python3 bench/kernels_table.py bench/results/bench_kernels.json > bench/results/bench_kernels.md
"""
import json
import re
import statistics
import sys

UNITS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def median_runs(data):
    """{name: (time in ms, counters)}: the median aggregate when there are repetitions, else the run. The
    time is the best call's (best_ms: the median over repetitions of each one's best) where recorded, as
    the limits are best runs: noise on this VM only ever adds time, to eager and fused calls alike."""
    runs = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = re.sub(r"/iterations:\d+", "", b.get("run_name", b["name"]).removesuffix("/real_time"))  # fixed call counts
        if b.get("run_type") == "iteration" and name in runs:
            continue
        runs[name] = (b.get("best_ms", b["real_time"] * UNITS[b["time_unit"]]), b)
    return runs


def main(path):
    with open(path) as f:
        data = json.load(f)
    runs = median_runs(data)
    context = data["context"]
    repetitions = next((b.get("repetitions") for b in data["benchmarks"] if b.get("repetitions")), 1)
    limits = {}
    for name, (ms, b) in runs.items():
        if name.startswith("limit/"):
            kind, threads = name.split("/")[1:3]
            rate = b.get("FLOP/s") or b.get("bytes_per_second", 0)
            limits[(kind, threads)] = rate
    print(f"bench_kernels, {context.get('date', '')}, {context.get('host_name', '')}: "
          f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, kernels for {context.get('isa', '?')}. "
          "Eager = the ops called on concrete tensors, each running its compiled one-op kernel (design §2) into a "
          "fresh result; unfused = jit without fusion: the same kernels, with the memory plan (results over dying "
          "operands); fused = the pass pipeline's kernels; all LLVM code. The three run in turn in one benchmark "
          "(eager and unfused between the fused calls, off the clock, each timed alone), so that a speedup compares "
          f"calls that met the same machine. Times are best calls and speedups ratios of best calls, each the "
          f"median over {repetitions} repetitions: noise only ever adds time. "
          "fused vs limit = the fused kernel's best call against the limit loop's best run: for memory-bound "
          "workloads, the triad or read loop run between the calls (limit_GB/s), since this VM's memory "
          "bandwidth drifts within minutes, and so that every call, eager or fused, finds the caches cold; "
          "for matmuls, the FMA loop run first. The triad writes with streaming stores, the cheapest way to "
          "write; kernels that store through the cache (GELU, softmax, layer norm) also read each output line "
          "first, and are held to the triad all the same.\n")
    print("| workload | threads | eager | unfused | fused | speedup over eager | over unfused | fused vs limit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (ms, b) in runs.items():
        parts = name.split("/")
        if parts[0] in ("limit", "compile", "parallel_for") or len(parts) < 3 or not parts[2].isdigit():
            continue  # (older results named {workload}/{backend}/{mode}/{threads})
        workload, backend, threads = parts[:3]
        unit = "µs" if b["time_unit"] == "us" else "ms"
        scale = 1e3 if unit == "µs" else 1.0

        def time_and_speedup(contender):
            other, speedup = b.get(f"{contender}_best_ms"), b.get(f"over_{contender}")
            return (f"{other * scale:.2f} {unit}", f"{speedup:.2f}×") if other is not None and speedup else ("", "")

        fraction = next((f"{b[k]:.0%} of {k[3:]}" for k in ("of_triad", "of_read", "of_fma_peak") if k in b), "")
        if fraction and "limit_GB/s" in b:
            fraction += f" ({b['limit_GB/s']:.0f} GB/s)"
        eager_text, over_eager = time_and_speedup("eager")
        unfused_text, over_unfused = time_and_speedup("unfused")
        print(f"| {workload} ({backend}) | {threads} | {eager_text} | {unfused_text} | {ms * scale:.2f} {unit} | "
              f"{over_eager} | {over_unfused} | {fraction} |")
    compiles = {name.split("/")[1]: ms for name, (ms, b) in runs.items() if name.startswith("compile/")}
    if compiles:
        text = ", ".join(f"{kernel} {ms:.1f} ms" for kernel, ms in compiles.items())
        print(f"\nCompile time per kernel (trace, passes and LLVM, then one call on small inputs): {text}; "
              f"median {statistics.median(compiles.values()):.1f} ms.")
    pool = [(name.split("/")[-1], ms) for name, (ms, b) in runs.items() if name.startswith("parallel_for/")]
    if pool:
        text = ", ".join(f"{ms * 1e3:.1f} µs at {threads}T" for threads, ms in pool)
        print(f"\nThe thread pool's cost per parallel call (an empty parallel_for of two chunks, back to back): {text}.")
    text = ", ".join(f"{k} {v / 1e9:.1f} {'GFLOP/s' if k == 'fma' else 'GB/s'} at {t}T" for (k, t), v in sorted(limits.items()))
    print(f"\nLimits measured (median of the repetitions' mean rates): {text}.")


if __name__ == "__main__":
    main(sys.argv[1])
