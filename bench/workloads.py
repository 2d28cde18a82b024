"""The workloads of issue 4's target table, each timed against its named reference and the peers.

Every workload returns :class:`Row` objects: the reference, tensorjac's figure, the target and
whether it is met, and the peers' ratios.  Ratios are ``time / reference time`` (smaller is
faster), medians of interleaved rounds (see ``_harness.interleaved_medians``).  Every result
is checked against the reference before it is timed.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import tensorjac as tj
from tensorjac import _plans

from _harness import interleaved_medians

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))  # nn_backprop.py, the network of note 001

PEER_COLUMNS = ("JAX", "PyTorch", "autograd")


@dataclass
class Row:
    workload: str
    reference: str
    reference_time: float | None  # seconds, or None when the row is not a timing
    value: float  # tensorjac's figure (a ratio unless ``unit`` says otherwise)
    target: str
    met: bool | None
    unit: str = "x"
    peers: dict[str, tuple[str, float]] = field(default_factory=dict)  # column -> (what, ratio)
    notes: list[str] = field(default_factory=list)
    chart: bool = True  # plot the row's ratios


def _check(name, got, want, rtol=1e-9, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
        raise AssertionError(f"{name}: result differs from the reference (shapes {got.shape}, {want.shape}; max abs diff {err:.3g})")


def _ratios(times, ref, peers_what):
    return {col: (what, times[key] / times[ref]) for col, (what, key) in peers_what.items() if key in times}


# ---- 1. network gradient (note 001), N=512, d=784, k=256, m=10 ---------------------------------------


def _network_loss_peers(peers, X, Y, W, b, V, c):
    """The note-001 loss gradient in each peer: (column, description, zero-argument callable)."""
    out = []
    if peers.jax is not None:
        jax, jnp = peers.jax, peers.jax.numpy

        def loss(W, b, V, c, X, Y):
            H = jax.nn.sigmoid(X @ W + b)
            Z = H @ V + c
            return -jnp.sum(Y * jax.nn.log_softmax(Z, axis=1))

        grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
        args = [jnp.asarray(a) for a in (W, b, V, c, X, Y)]
        out.append(("JAX", "jax.jit(grad)", lambda: jax.block_until_ready(grad(*args)), lambda: grad(*args)[0]))
    if peers.torch is not None:
        torch = peers.torch
        tX, tY = torch.from_numpy(X), torch.from_numpy(Y)
        params = [torch.from_numpy(a.copy()).requires_grad_() for a in (W, b, V, c)]

        def torch_grad():
            tW, tb, tV, tc = params
            Z = torch.sigmoid(tX @ tW + tb) @ tV + tc
            loss = -(tY * torch.log_softmax(Z, dim=1)).sum()
            return torch.autograd.grad(loss, params)

        out.append(("PyTorch", "torch.autograd.grad", torch_grad, lambda: torch_grad()[0].numpy()))
    if peers.autograd is not None:
        import autograd
        import autograd.numpy as anp

        def aloss(W, b, V, c):
            H = 0.5 * (anp.tanh(0.5 * (anp.dot(X, W) + b)) + 1)  # the logistic sigmoid, stably
            Z = anp.dot(H, V) + c
            Z = Z - anp.max(Z, axis=1, keepdims=True)
            return -anp.sum(Y * (Z - anp.log(anp.sum(anp.exp(Z), axis=1, keepdims=True))))

        agrad = autograd.grad(aloss, argnum=[0, 1, 2, 3])
        out.append(("autograd", "autograd.grad", lambda: agrad(W, b, V, c), lambda: agrad(W, b, V, c)[0]))
    return out


def network_gradient(peers, repeats):
    from network_gradient import SIZES, make_problem, numpy_backprop_gradient, peak_memory, tensorjac_gradient

    problem = make_problem(**SIZES)
    ref = numpy_backprop_gradient(*problem)
    got = tensorjac_gradient(*problem)
    for name in ref:
        _check(f"network gradient {name}", got[name], ref[name], rtol=1e-9, atol=1e-12)
    contenders = {"numpy": lambda: numpy_backprop_gradient(*problem), "tensorjac": lambda: tensorjac_gradient(*problem)}
    what = {}
    for col, desc, fn, first in _network_loss_peers(peers, *problem):
        _check(f"network gradient W ({desc})", np.asarray(first()), ref["W"], rtol=1e-8, atol=1e-10)
        contenders[col] = fn
        what[col] = (desc, col)
    times, rounds = interleaved_medians(contenders, repeats)
    label = ", ".join(f"{k}={v}" for k, v in SIZES.items())
    rows = [
        Row(
            f"gradient of the note-001 network loss ({label})",
            "hand-written numpy backprop",
            times["numpy"],
            times["tensorjac"] / times["numpy"],
            "<= 1.3x",
            times["tensorjac"] / times["numpy"] <= 1.3,
            peers=_ratios(times, "numpy", what),
            notes=[f"median of {rounds} interleaved rounds"],
        )
    ]
    peak_tj, peak_np = peak_memory(tensorjac_gradient, *problem), peak_memory(numpy_backprop_gradient, *problem)
    rows.append(
        Row(
            "peak memory of that network gradient (tracemalloc)",
            "hand-written numpy backprop",
            None,
            peak_tj / peak_np,
            "<= 2x",
            peak_tj / peak_np <= 2,
            notes=[f"tensorjac {peak_tj / 2**20:.1f} MiB, numpy {peak_np / 2**20:.1f} MiB; peers' allocators are "
                   "invisible to tracemalloc, so no peer column"],
            chart=False,
        )
    )
    return rows


# ---- 2. full Jacobian of x -> tanh(W2 tanh(W1 x)), n = 1000 ------------------------------------------


def tanh_network_jacobian(peers, repeats, n=1000):
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(n, n)) / math.sqrt(n), rng.normal(size=(n, n)) / math.sqrt(n)
    x = rng.normal(size=n)

    def hand():
        h1 = np.tanh(W1 @ x)
        h2 = np.tanh(W2 @ h1)
        d1, d2 = 1 - h1 * h1, 1 - h2 * h2
        return (d2[:, None] * W2) @ (d1[:, None] * W1)

    def tensorjac():
        a1, D1 = tj.get_rule("matmul").value_and_jacobian(W1, x, argnums="x2")
        h1, D2 = tj.get_rule("tanh").value_and_jacobian(a1)
        a2, D3 = tj.get_rule("matmul").value_and_jacobian(W2, h1, argnums="x2")
        _, D4 = tj.get_rule("tanh").value_and_jacobian(a2)
        return tj.chain(D4["x"], D3["x2"], D2["x"], D1["x2"]).dense()

    def tensorjac_no_copy():  # the same, the Jacobian kept as tensorjac stores it (no dense() copy)
        a1, D1 = tj.get_rule("matmul").value_and_jacobian(W1, x, argnums="x2")
        h1, D2 = tj.get_rule("tanh").value_and_jacobian(a1)
        a2, D3 = tj.get_rule("matmul").value_and_jacobian(W2, h1, argnums="x2")
        _, D4 = tj.get_rule("tanh").value_and_jacobian(a2)
        return tj.chain(D4["x"], D3["x2"], D2["x"], D1["x2"])

    ref = hand()
    _check("tanh network Jacobian", tensorjac(), ref, rtol=1e-10, atol=1e-13)
    contenders = {"hand": hand, "tensorjac": tensorjac, "tensorjac, no dense() copy": tensorjac_no_copy}
    what = {}
    if peers.jax is not None:
        jax, jnp = peers.jax, peers.jax.numpy
        jW1, jW2, jx = jnp.asarray(W1), jnp.asarray(W2), jnp.asarray(x)
        jac = jax.jit(jax.jacrev(lambda x: jnp.tanh(jW2 @ jnp.tanh(jW1 @ x))))
        _check("jax.jit(jacrev)", np.asarray(jac(jx)), ref, rtol=1e-10, atol=1e-13)
        contenders["JAX"] = lambda: jax.block_until_ready(jac(jx))
        what["JAX"] = ("jax.jit(jacrev)", "JAX")
    if peers.torch is not None:
        torch = peers.torch
        tW1, tW2, tx = torch.from_numpy(W1), torch.from_numpy(W2), torch.from_numpy(x)
        tjac = torch.func.jacrev(lambda x: torch.tanh(tW2 @ torch.tanh(tW1 @ x)))
        _check("torch.func.jacrev", tjac(tx).numpy(), ref, rtol=1e-10, atol=1e-13)
        contenders["PyTorch"] = lambda: tjac(tx)
        what["PyTorch"] = ("torch.func.jacrev", "PyTorch")
    if peers.autograd is not None:
        import autograd
        import autograd.numpy as anp

        ajac = autograd.jacobian(lambda x: anp.tanh(anp.dot(W2, anp.tanh(anp.dot(W1, x)))))
        _check("autograd.jacobian", ajac(x), ref, rtol=1e-10, atol=1e-13)
        contenders["autograd"] = lambda: ajac(x)
        what["autograd"] = ("autograd.jacobian", "autograd")
    times, rounds = interleaved_medians(contenders, repeats)
    ratio = times["tensorjac"] / times["hand"]
    return [
        Row(
            f"full Jacobian of x -> tanh(W2 tanh(W1 x)), n = {n}",
            "explicit formula (d2*W2) @ (d1*W1)",
            times["hand"],
            ratio,
            "<= 1.1x",
            ratio <= 1.1,
            peers=_ratios(times, "hand", what),
            notes=[f"median of {rounds} interleaved rounds; tensorjac: rules + chain(...).dense(); without the "
                   f"final dense() copy (the Jacobian as stored): "
                   f"{times['tensorjac, no dense() copy'] / times['hand']:.3g}x"],
        )
    ]


# ---- 3. Jacobian of tanh(sin(exp(x))), n = 10^4 ------------------------------------------------------


def elementwise_chain(peers, repeats, n=10_000):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, size=n)

    def hand():
        e = np.exp(x)
        s = np.sin(e)
        t = np.tanh(s)
        return (1 - t * t) * np.cos(e) * e

    def tensorjac():
        e, De = tj.get_rule("exp").value_and_jacobian(x)
        s, Ds = tj.get_rule("sin").value_and_jacobian(e)
        _, Dt = tj.get_rule("tanh").value_and_jacobian(s)
        return tj.chain(Dt["x"], Ds["x"], De["x"])

    ref = hand()
    J = tensorjac()
    _check("elementwise chain (diagonal)", tj.chain_jvp(J, np.ones(n)), ref, rtol=1e-12)
    assert J.nbytes == n * 8, f"the chain of diagonals did not stay diagonal: {J!r}"
    contenders = {"hand": hand, "tensorjac": tensorjac}
    what = {}
    if peers.jax is not None:
        jax, jnp = peers.jax, peers.jax.numpy
        jx = jnp.asarray(x)
        jacfwd = jax.jit(jax.jacfwd(lambda x: jnp.tanh(jnp.sin(jnp.exp(x)))))
        _check("jax.jit(jacfwd) diagonal", np.diag(np.asarray(jacfwd(jx))), ref, rtol=1e-12)
        contenders["JAX"] = lambda: jax.block_until_ready(jacfwd(jx))
        what["JAX"] = ("jax.jit(jacfwd), dense n x n", "JAX")
    if peers.torch is not None:
        torch = peers.torch
        tx = torch.from_numpy(x)
        tjac = torch.func.jacfwd(lambda x: torch.tanh(torch.sin(torch.exp(x))))
        _check("torch.func.jacfwd diagonal", torch.diagonal(tjac(tx)).numpy(), ref, rtol=1e-12)
        contenders["PyTorch"] = lambda: tjac(tx)
        what["PyTorch"] = ("torch.func.jacfwd, dense n x n", "PyTorch")
    if peers.autograd is not None:
        import autograd
        import autograd.numpy as anp

        egrad = autograd.elementwise_grad(lambda x: anp.tanh(anp.sin(anp.exp(x))))
        _check("autograd.elementwise_grad", egrad(x), ref, rtol=1e-12)
        contenders["autograd"] = lambda: egrad(x)
        what["autograd"] = ("autograd.elementwise_grad (the diagonal only)", "autograd")
    times, rounds = interleaved_medians(contenders, repeats)
    ratio = times["tensorjac"] / times["hand"]
    rows = [
        Row(
            f"Jacobian of tanh(sin(exp(x))), n = {n}",
            "hand-written diagonal",
            times["hand"],
            ratio,
            "<= 3x",
            ratio <= 3,
            peers=_ratios(times, "hand", what),
            notes=[f"median of {rounds} interleaved rounds; tensorjac: rules + chain, result kept diagonal "
                   f"({J.nbytes} bytes stored vs {n * n * 8:,} dense)"],
        )
    ]
    if "JAX" in times:
        speedup = times["JAX"] / times["tensorjac"]
        rows.append(
            Row(
                f"same, tensorjac speed-up over jax.jit(jacfwd) building the dense {n} x {n} matrix",
                "jax.jit(jacfwd)",
                times["JAX"],
                speedup,
                ">= 100x faster",
                speedup >= 100,
                unit="x faster",
                chart=False,
            )
        )
    return rows


# ---- 4. hourglass chain 2048-8-2048-8-2048 -------------------------------------------------------------


def hourglass(peers, repeats, wide=2048, narrow=8):
    rng = np.random.default_rng(2)
    dims = (wide, narrow, wide, narrow, wide)
    arrays = [rng.normal(size=(dims[i], dims[i + 1])) for i in range(4)]
    js = [tj.Jacobian(a, out_ndim=1) for a in arrays]
    A, B, C, D = arrays
    costs = tj.chain_cost(*js)
    dp_best = min(costs[o].flops for o in ("optimal", "forward", "reverse"))
    assert costs["optimal"].flops == dp_best

    contenders = {
        "raw forward": lambda: A @ (B @ (C @ D)),
        "raw reverse": lambda: ((A @ B) @ C) @ D,
        "tensorjac": lambda: tj.chain(*js),
        "tensorjac forward": lambda: tj.chain(*js, order="forward"),
        "tensorjac reverse": lambda: tj.chain(*js, order="reverse"),
    }
    ref = contenders["raw reverse"]()
    _check("hourglass optimal", tj.chain(*js).dense(), ref, rtol=1e-10, atol=1e-10)
    what = {}
    if peers.jax is not None:
        jax, jnp = peers.jax, peers.jax.numpy
        jarrs = [jnp.asarray(a) for a in arrays]
        multi_dot = jax.jit(lambda *ms: jnp.linalg.multi_dot(ms))
        _check("jax multi_dot", np.asarray(multi_dot(*jarrs)), ref, rtol=1e-10, atol=1e-10)
        contenders["JAX"] = lambda: jax.block_until_ready(multi_dot(*jarrs))
        what["JAX"] = ("jax.jit(jnp.linalg.multi_dot)", "JAX")
    if peers.torch is not None:
        torch = peers.torch
        tarrs = [torch.from_numpy(a) for a in arrays]
        _check("torch multi_dot", torch.linalg.multi_dot(tarrs).numpy(), ref, rtol=1e-10, atol=1e-10)
        contenders["PyTorch"] = lambda: torch.linalg.multi_dot(tarrs)
        what["PyTorch"] = ("torch.linalg.multi_dot", "PyTorch")
    times, rounds = interleaved_medians(contenders, repeats)
    best_raw = min(times["raw forward"], times["raw reverse"])
    predicted = min(costs["forward"].flops, costs["reverse"].flops) / costs["optimal"].flops
    measured = best_raw / times["tensorjac"]
    note = (
        f"flops: optimal {costs['optimal'].flops:,} (= DP optimum, bracketing {costs['optimal'].path}), "
        f"forward {costs['forward'].flops:,}, reverse {costs['reverse'].flops:,}; predicted speed-up "
        f"{predicted:.2f}x, measured {measured:.2f}x = {measured / predicted:.0%} of predicted; "
        f"raw forward {times['raw forward'] * 1e3:.1f} ms, raw reverse {times['raw reverse'] * 1e3:.1f} ms, "
        f"tensorjac forward {times['tensorjac forward'] * 1e3:.1f} ms, reverse {times['tensorjac reverse'] * 1e3:.1f} ms; "
        f"median of {rounds} rounds"
    )
    return [
        Row(
            f"hourglass chain of dense Jacobians {'-'.join(map(str, dims))}",
            "better of pure forward and pure reverse (numpy @)",
            best_raw,
            times["tensorjac"] / best_raw,
            "flops = DP optimum; speed-up >= 70% of predicted",
            costs["optimal"].flops == dp_best and measured >= 0.7 * predicted,
            peers=_ratios({**times, "ref": best_raw}, "ref", what),
            notes=[note],
        )
    ]


# ---- 5. chain of three 16x16 Jacobians, repeated; planning a new chain ------------------------------


def small_chain(peers, repeats, n=16):
    rng = np.random.default_rng(3)
    A, B, C = (rng.normal(size=(n, n)) for _ in range(3))
    js = [tj.Jacobian(a, out_ndim=1) for a in (A, B, C)]
    ref = np.matmul(np.matmul(A, B), C)
    _check("16x16 chain", tj.chain(*js).dense(), ref, rtol=1e-12, atol=1e-12)
    contenders = {"raw": lambda: np.matmul(np.matmul(A, B), C), "tensorjac": lambda: tj.chain(*js)}
    what = {}
    if peers.jax is not None:
        jax, jnp = peers.jax, peers.jax.numpy
        jA, jB, jC = (jnp.asarray(a) for a in (A, B, C))
        f = jax.jit(lambda a, b, c: a @ b @ c)
        contenders["JAX"] = lambda: jax.block_until_ready(f(jA, jB, jC))
        what["JAX"] = ("jax.jit(a @ b @ c)", "JAX")
    if peers.torch is not None:
        torch = peers.torch
        tA, tB, tC = (torch.from_numpy(a) for a in (A, B, C))
        contenders["PyTorch"] = lambda: tA @ tB @ tC
        what["PyTorch"] = ("torch a @ b @ c", "PyTorch")
    times, rounds = interleaved_medians(contenders, repeats, min_sample=0.02)
    ratio = times["tensorjac"] / times["raw"]
    rows = [
        Row(
            f"chain of three {n}x{n} Jacobians, repeated (plan reused)",
            "raw np.matmul chain",
            times["raw"],
            ratio,
            "<= 2x",
            ratio <= 2,
            peers=_ratios(times, "raw", what),
            notes=[f"median of {rounds} rounds; raw {times['raw'] * 1e6:.2f} us, tensorjac {times['tensorjac'] * 1e6:.2f} us"],
        )
    ]
    # Planning a new chain of 8 factors: dense (the dynamic program) and structured (one
    # opt_einsum path search over all factors, through chain_cost's dry run).
    dims = [int(d) for d in rng.integers(2, 40, size=9)]
    dense8 = [tj.Jacobian(rng.normal(size=(dims[i], dims[i + 1])), 1) for i in range(8)]
    m = 12
    x = rng.normal(size=m)
    structured8 = []
    for k in range(4):
        structured8.append(tj.Jacobian.diagonal(np.cos(x + k)))
        structured8.append(tj.Jacobian(rng.normal(size=(m, m)), 1))
    ordering = sys.modules["tensorjac.ordering"]

    def plan_dense():
        ordering._matrix_chain_costs.cache_clear()
        sys.modules["tensorjac._chains"]._dense_program.cache_clear()
        t0 = time.perf_counter()
        tj.chain_cost(*dense8)
        return time.perf_counter() - t0

    def plan_structured(all_orders):
        _plans.plan.cache_clear()
        t0 = time.perf_counter()
        if all_orders:
            tj.chain_cost(*structured8)
        else:  # what chain(order="optimal") plans: one contraction over all factors, not run
            with _plans.recording():
                tj.chain(*structured8)
        return time.perf_counter() - t0

    plan_dense()
    plan_structured(True)
    count = max(repeats, 5)
    t_dense = float(np.median([plan_dense() for _ in range(count)]))
    t_struct = float(np.median([plan_structured(False) for _ in range(count)]))
    t_struct_all = float(np.median([plan_structured(True) for _ in range(count)]))
    _plans.plan.cache_clear()
    rows.append(
        Row(
            "planning a new chain of 8 factors (cold caches)",
            "-",
            None,
            max(t_dense, t_struct) * 1e3,
            "<= 1 ms",
            max(t_dense, t_struct) <= 1e-3,
            unit=" ms",
            notes=[f"dense chain (matrix-chain DP, the costs of all 3 orders): {t_dense * 1e3:.3f} ms; structured "
                   f"chain of 4 diagonals and 4 dense 12x12 factors, order='optimal' (path search over all 8 "
                   f"factors): {t_struct * 1e3:.3f} ms; chain_cost of that chain (plans of all 3 orders): "
                   f"{t_struct_all * 1e3:.3f} ms"],
            chart=False,
        )
    )
    return rows


WORKLOADS = {
    "network": network_gradient,
    "tanh_net": tanh_network_jacobian,
    "elementwise": elementwise_chain,
    "hourglass": hourglass,
    "small_chain": small_chain,
}
