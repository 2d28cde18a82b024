"""Gradient of the note-001 network loss at N=512, d=784, k=256, m=10, through tensorjac's
block chain rule, against hand-written numpy backpropagation.

Prints the median time of each, their ratio, the peak memory of each (tracemalloc, which
sees numpy's allocations) and the agreement.  The dense d(XW)/dW alone would need
512*256*784*256*8 bytes = 196 GiB.

    python bench/network_gradient.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from nn_backprop import make_problem, numpy_backprop_gradient, tensorjac_gradient  # noqa: E402

SIZES = dict(N=512, d=784, k=256, m=10)


def peak_memory(fn, *args) -> int:
    """Peak bytes allocated (above the start) while ``fn(*args)`` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - start


def median_time(fn, *args, repeats=15) -> float:
    fn(*args)  # warm up (BLAS threads, opt_einsum path caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def max_relative_error(grads, reference) -> float:
    return max(float(np.abs(grads[n] - reference[n]).max() / np.abs(reference[n]).max()) for n in reference)


def run(repeats=15) -> dict:
    problem = make_problem(**SIZES)
    reference = numpy_backprop_gradient(*problem)
    result = {
        "rel_error": max_relative_error(tensorjac_gradient(*problem), reference),
        "time_tensorjac": median_time(tensorjac_gradient, *problem, repeats=repeats),
        "time_numpy": median_time(numpy_backprop_gradient, *problem, repeats=repeats),
        "peak_tensorjac": peak_memory(tensorjac_gradient, *problem),
        "peak_numpy": peak_memory(numpy_backprop_gradient, *problem),
    }
    result["time_ratio"] = result["time_tensorjac"] / result["time_numpy"]
    result["memory_ratio"] = result["peak_tensorjac"] / result["peak_numpy"]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    r = run(args.repeats)
    print(f"network gradient, {SIZES}, float64, median of {args.repeats}")
    print(f"  max relative error vs numpy backprop : {r['rel_error']:.2e}")
    print(f"  time  tensorjac {r['time_tensorjac'] * 1e3:8.2f} ms   numpy backprop {r['time_numpy'] * 1e3:8.2f} ms"
          f"   ratio {r['time_ratio']:.2f}x")
    print(f"  peak  tensorjac {r['peak_tensorjac'] / 2**20:8.1f} MiB  numpy backprop {r['peak_numpy'] / 2**20:8.1f} MiB"
          f"  ratio {r['memory_ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
