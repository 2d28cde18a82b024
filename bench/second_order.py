"""The workloads of issues 9 and 10: Hessians, Hessian-vector products and implicit Jacobians.

Each row checks its result against the reference before timing it (medians of interleaved
rounds, float64, the peers jitted where they can be).
"""

from __future__ import annotations

import math

import numpy as np

import tensorjac as tj
from _harness import interleaved_medians
from tracing import network_loss
from workloads import Row, _check, _ratios


# ---- logistic regression, X 2000 x 1000 --------------------------------------------------------------


def logistic_hessian(peers, repeats, N=2000, d=1000):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(N, d)) / math.sqrt(d)
    y = (rng.random(N) < 0.5).astype(float)
    w = rng.normal(size=d)

    def loss(w):
        z = X @ w
        return np.sum(tj.softplus(z) - y * z)

    def hand():
        s = 1 / (1 + np.exp(-(X @ w)))
        return X.T @ ((s * (1 - s))[:, None] * X)

    hessian = tj.hessian(loss)
    ref = hand()
    _check("logistic Hessian", hessian(w).matrix(), ref, rtol=1e-10, atol=1e-13)
    contenders = {"hand": hand, "tensorjac": lambda: hessian(w).matrix()}
    what = {}
    if peers.jax is not None:
        jax, jnp = peers.jax, peers.jax.numpy
        jX, jy, jw = jnp.asarray(X), jnp.asarray(y), jnp.asarray(w)
        jh = jax.jit(jax.hessian(lambda w: jnp.sum(jax.nn.softplus(jX @ w) - jy * (jX @ w))))
        _check("jax.hessian logistic", np.asarray(jh(jw)), ref, rtol=1e-8, atol=1e-12)
        contenders["JAX"] = lambda: jax.block_until_ready(jh(jw))
        what["JAX"] = ("jax.jit(jax.hessian)", "JAX")
    if peers.torch is not None:
        torch = peers.torch
        tX, ty, tw = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(w)
        th = torch.func.hessian(lambda w: (torch.nn.functional.softplus(tX @ w) - ty * (tX @ w)).sum())
        _check("torch.func.hessian logistic", th(tw).numpy(), ref, rtol=1e-8, atol=1e-12)
        contenders["PyTorch"] = lambda: th(tw)
        what["PyTorch"] = ("torch.func.hessian", "PyTorch")
    if peers.autograd is not None:
        import autograd
        import autograd.numpy as anp

        ah = autograd.hessian(lambda w: anp.sum(anp.logaddexp(0, anp.dot(X, w)) - y * anp.dot(X, w)))
        contenders["autograd"] = lambda: ah(w)
        what["autograd"] = ("autograd.hessian", "autograd")
    times, rounds = interleaved_medians(contenders, repeats)
    ratio = times["tensorjac"] / times["hand"]
    return [Row(f"tj.hessian of the logistic-regression loss, X {N}x{d}", "hand formula X^T diag(s(1-s)) X",
                times["hand"], ratio, "<= 1.2x", ratio <= 1.2, peers=_ratios(times, "hand", what),
                notes=[f"median of {rounds} interleaved rounds; traced at every call, then matrix()"])]


# ---- sum(tanh(X @ W)) with respect to W: the delta JAX builds densely ----------------------------------


def tanh_sum_hessian(peers, repeats):
    rows = []
    for (N, d), k in (((2000, 50), 20), ((2000, 20), 100)):
        rng = np.random.default_rng(N + d + k)
        X, W = rng.normal(size=(N, d)), rng.normal(size=(d, k)) / math.sqrt(d)
        f = lambda W, X=X: np.sum(np.tanh(X @ W))  # noqa: E731
        hessian = tj.hessian(f)

        def structured(X=X, W=W):
            Z = X @ W
            t = np.tanh(Z)
            return np.einsum("ai,aj,ab->ibj", X, X, -2 * t * (1 - t * t), optimize=True)

        H = hessian(W)
        entries = H.nbytes / 8
        dense_entries = H.size
        ref = np.einsum("ibj,bc->ibjc", structured(), np.eye(k))
        _check(f"tanh-sum Hessian {N}x{d}x{k}", H.dense(), ref, rtol=1e-9, atol=1e-11)
        contenders = {"structured einsum": structured, "tensorjac": lambda hessian=hessian, W=W: hessian(W)}
        if peers.jax is None:
            rows.append(Row(f"tj.hessian of sum(tanh(X @ W)) in W, X {N}x{d}, W {d}x{k}", "jax.hessian (jit)",
                            None, float("nan"), ">= 50x faster", None, unit="x faster",
                            notes=["JAX not installed: no reference"]))
            continue
        jax, jnp = peers.jax, peers.jax.numpy
        jX, jW = jnp.asarray(X), jnp.asarray(W)
        jh = jax.jit(jax.hessian(lambda W: jnp.sum(jnp.tanh(jX @ W))))
        _check("jax.hessian tanh-sum", np.asarray(jh(jW)), ref, rtol=1e-8, atol=1e-10)
        contenders["JAX"] = lambda jh=jh, jW=jW: jax.block_until_ready(jh(jW))
        times, rounds = interleaved_medians(contenders, repeats)
        speedup = times["JAX"] / times["tensorjac"]
        fraction = entries / dense_entries
        rows.append(Row(
            f"tj.hessian of sum(tanh(X @ W)) in W, X {N}x{d}, W {d}x{k} (structured, {fraction:.3f} of the dense entries)",
            "jax.jit(jax.hessian), dense", times["JAX"], speedup, ">= 50x faster, <= 1/20 stored",
            speedup >= 50 and fraction <= 1 / 20, unit="x faster",
            notes=[f"median of {rounds} interleaved rounds; tensorjac {times['tensorjac'] * 1e3:.2f} ms, the structured "
                   f"einsum by hand {times['structured einsum'] * 1e3:.2f} ms; stored {int(entries):,} of "
                   f"{dense_entries:,} entries"],
            chart=False,
        ))
    return rows


# ---- the note-001 network: dense Hessian at N=64, Hessian-vector products at N=512 --------------------


def network_hessian(peers, repeats, N=64, d=8, k=16, m=4):
    from network_gradient import make_problem

    X, Y, W, b, V, c = make_problem(N=N, d=d, k=k, m=m)
    hessian = tj.hessian(network_loss, argnums=(0, 1, 2, 3))
    M, ranges = hessian(W, b, V, c, X, Y).matrix()
    contenders = {"tensorjac": lambda: hessian(W, b, V, c, X, Y).matrix()}
    note = f"tensorjac {M.shape[0]}x{M.shape[1]} symmetric matrix"
    if peers.jax is None:
        return [Row(f"tj.hessian of the network loss in W, b, V, c (N={N}, d={d}, k={k}, m={m})", "jax.hessian (jit)",
                    None, float("nan"), "<= 2x", None, notes=["JAX not installed"])]
    jax, jnp = peers.jax, peers.jax.numpy

    def jloss(W, b, V, c):
        Z = jax.nn.sigmoid(jnp.asarray(X) @ W + b) @ V + c
        return -jnp.sum(jnp.asarray(Y) * jax.nn.log_softmax(Z, axis=1))

    jh = jax.jit(jax.hessian(jloss, argnums=(0, 1, 2, 3)))
    args = [jnp.asarray(a) for a in (W, b, V, c)]
    blocks = jh(*args)
    names = "WbVc"
    sizes = [a.size for a in (W, b, V, c)]
    ref = np.block([[np.asarray(blocks[p][q]).reshape(sizes[p], sizes[q]) for q in range(4)] for p in range(4)])
    _check("network Hessian vs JAX", M, ref, rtol=1e-8, atol=1e-10)
    assert list(ranges) == list(names)
    contenders["JAX"] = lambda: jax.block_until_ready(jh(*args))
    times, rounds = interleaved_medians(contenders, repeats)
    ratio = times["tensorjac"] / times["JAX"]
    return [Row(f"tj.hessian of the network loss in W, b, V, c (N={N}, d={d}, k={k}, m={m}), dense",
                "jax.jit(jax.hessian)", times["JAX"], ratio, "<= 2x", ratio <= 2,
                notes=[f"median of {rounds} interleaved rounds; {note}; traced at every call"])]


def network_hvp(peers, repeats, N=512, d=784, k=256, m=10):
    from network_gradient import make_problem

    X, Y, W, b, V, c = make_problem(N=N, d=d, k=k, m=m)
    rng = np.random.default_rng(5)
    tangents = tuple(rng.normal(size=a.shape) for a in (W, b, V, c))
    grad = tj.grad(network_loss, argnums=(0, 1, 2, 3))

    def hvp():
        return tj.hvp(lambda W, b, V, c: network_loss(W, b, V, c, X, Y), (W, b, V, c), tangents)

    g, Hv = hvp()
    eps = 1e-6
    plus = grad(*(a + eps * t for a, t in zip((W, b, V, c), tangents)), X, Y)
    minus = grad(*(a - eps * t for a, t in zip((W, b, V, c), tangents)), X, Y)
    for k_, (p, q) in enumerate(zip(plus, minus)):
        _check(f"hvp block {k_}", Hv[k_], (p - q) / (2 * eps), rtol=1e-4, atol=1e-6)
    times, rounds = interleaved_medians({"tj.grad": lambda: grad(W, b, V, c, X, Y), "tensorjac": hvp}, repeats)
    ratio = times["tensorjac"] / times["tj.grad"]
    return [Row(f"tj.hvp of the network loss (N={N}, d={d}, k={k}, m={m})", "tj.grad of the same loss",
                times["tj.grad"], ratio, "<= 5x", ratio <= 5,
                notes=[f"median of {rounds} interleaved rounds; checked against central differences of tj.grad"])]


# ---- implicit Jacobian of a dense 1000 x 1000 system -----------------------------------------------


def implicit_dense(peers, repeats, n=1000):
    rng = np.random.default_rng(21)
    A = rng.normal(size=(n, n)) / math.sqrt(n) + 2 * np.eye(n)
    x = rng.normal(size=n)
    y = np.linalg.solve(A, x)
    F = lambda x, y: A @ y - x  # noqa: E731

    def hand():
        return np.linalg.solve(A, np.eye(n))

    def tensorjac():
        return tj.implicit_jacobian(F, x, y, tol=1e-8).dense()

    J, info = tj.implicit_jacobian(F, x, y, tol=1e-8, return_info=True)
    _check("implicit dense Jacobian", J.dense(), hand(), rtol=1e-9, atol=1e-11)
    err = float(np.max(np.abs(J.dense() - hand())) / np.max(np.abs(hand())))
    times, rounds = interleaved_medians({"hand": hand, "tensorjac": tensorjac}, repeats)
    ratio = times["tensorjac"] / times["hand"]
    return [Row(f"tj.implicit_jacobian of A y = x, dense {n}x{n}", "np.linalg.solve(A, I) by hand", times["hand"],
                ratio, "(report)", None,
                notes=[f"median of {rounds} interleaved rounds; method {info.method}, residual {info.residual:.1e}, "
                       f"cond estimate {info.condition:.3g}, max relative difference from the hand solve {err:.1e}"])]


WORKLOADS = {
    "logistic_hessian": logistic_hessian,
    "tanh_sum_hessian": tanh_sum_hessian,
    "network_hessian": network_hessian,
    "network_hvp": network_hvp,
    "implicit_dense": implicit_dense,
}
