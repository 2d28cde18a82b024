"""Timing harness shared by the benchmarks: thread pinning, optional peers, interleaved medians.

Import this module *before* numpy (``run_all.py`` does): :func:`pin_threads` sets the BLAS /
OpenMP thread variables, which the BLAS libraries read when they are loaded.
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def pin_threads(threads: int) -> None:
    """Use ``threads`` threads in every BLAS/OpenMP pool (call before importing numpy)."""
    if "numpy" in sys.modules:
        print("warning: numpy was imported before the thread count was set", file=sys.stderr)
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


class Peers:
    """The optional peer libraries that are installed, each set to float64 and the thread count."""

    def __init__(self, threads: int):
        self.threads = threads
        self.notes: list[str] = []
        self.jax = self._load("jax", "JAX")
        self.torch = self._load("torch", "PyTorch")
        self.autograd = self._load("autograd", "HIPS autograd")
        if self.jax is not None:
            self.jax.config.update("jax_enable_x64", True)
            if threads != os.cpu_count():
                self.notes.append(
                    f"JAX (XLA CPU) uses its own thread pool of {os.cpu_count()} threads, not {threads}"
                )
        if self.torch is not None:
            self.torch.set_num_threads(threads)

    def _load(self, module: str, name: str):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            self.notes.append(f"{name} is not installed: its column is skipped (pip install {module})")
            return None
        return mod

    def versions(self) -> dict[str, str]:
        found = {}
        for attr, name in (("jax", "jax"), ("torch", "torch"), ("autograd", "autograd")):
            mod = getattr(self, attr)
            if mod is not None:
                found[name] = getattr(mod, "__version__", "?")
        if self.autograd is not None and found.get("autograd") == "?":
            try:
                from importlib.metadata import version

                found["autograd"] = version("autograd")
            except Exception:  # pragma: no cover - metadata missing
                pass
        return found


def _calibrate(fn, min_sample: float) -> int:
    """How many calls make one sample last at least ``min_sample`` seconds."""
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_sample or calls >= 1 << 20:
            return calls
        calls = max(calls * 2, int(calls * min_sample / max(elapsed, 1e-9)))


#: Contenders with thread pools of their own that keep spinning after a call returns.
SPINNING = ("JAX", "PyTorch")


def _settle(name: str, sample: float) -> None:
    """Let a peer's worker threads go idle before the next contender runs.

    XLA's CPU thread pool (and PyTorch's OpenMP workers) keep spinning for a while after a call
    returns; on this 2-core machine the next contender's 2-thread BLAS then runs up to 80x
    slower (measured: the 5 ms structured Hessian of sum(tanh(X @ W)) took 450 ms right after
    a 3 s ``jax.hessian`` call, 150 ms after 0.3 s of sleep, 5 ms after 0.5 s).  The pause
    grows with the sample: a quarter of it, between 10 ms and 1 s.
    """
    if name in SPINNING:
        time.sleep(min(1.0, max(0.01, sample / 4)))


def interleaved_medians(contenders: dict, repeats: int, budget: float = 20.0, min_sample: float = 0.005):
    """(median seconds per call of each contender, rounds run), timed in rotation.

    Rotation spreads the drift of a shared machine over all contenders.  A sample of a fast
    function repeats it enough times to last ``min_sample`` seconds.  Fewer rounds are run
    (at least 3) when ``repeats`` rounds would exceed ``budget`` seconds.  After a sample of a
    peer with spinning worker threads (:data:`SPINNING`), the harness pauses (:func:`_settle`).
    """
    calls = {}
    for name, fn in contenders.items():
        fn()  # warm up: jit compilation, plan caches, BLAS threads
        calls[name] = _calibrate(fn, min_sample)
        _settle(name, 1.0)
    one_round = 0.0
    for name, fn in contenders.items():
        t0 = time.perf_counter()
        for _ in range(calls[name]):
            fn()
        one_round += time.perf_counter() - t0
        _settle(name, time.perf_counter() - t0)
    rounds = max(3, min(repeats, int(budget / max(one_round, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            n = calls[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter() - t0
            samples[name].append(elapsed / n)
            _settle(name, elapsed)
    return {name: statistics.median(s) for name, s in samples.items()}, rounds
