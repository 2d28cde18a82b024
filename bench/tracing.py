"""The workloads of issue 8: Jacobians and gradients of users' plain numpy functions, by tracing.

Each row times ``tj.grad`` / ``tj.jacobian`` of a function written with ``np.`` calls against the
hand-written formula (and the peers), after checking the result, and reports whether the
optimal order's predicted flops are at most those of pure forward and pure reverse
(``tj.make_program``).
"""

from __future__ import annotations

import math

import numpy as np

import tensorjac as tj
from _harness import interleaved_medians
from workloads import Row, _check, _network_loss_peers, _ratios


def _optimal_note(f, *args, argnums=0):
    program = tj.make_program(f, argnums=argnums)(*args)
    costs = program.costs
    if not costs:
        return "", True
    fwd, rev, opt = costs["forward"][0], costs["reverse"][0], costs["optimal"][0]
    ok = opt <= min(fwd, rev)
    return (f"predicted flops: optimal {opt:,} ({program.chosen}), forward {fwd:,}, reverse {rev:,}"
            f" ({'<=' if ok else 'NOT <='} both)"), ok


def network_loss(W, b, V, c, X, Y):
    """The note-001 network loss in plain numpy with tensorjac's functions."""
    Z = tj.logit(X @ W + b) @ V + c
    return -np.sum(Y * tj.log_softmax(Z))


def _cache_rows(workload, reference, times, target, peers, notes, ok=True):
    """Two rows from one set of interleaved timings: tensorjac traced at every call, and with
    ``cache=True`` (traced once per signature, replayed), each against the same reference."""
    rows = []
    for key, how in (("tensorjac", "traced at every call"), ("tensorjac cache", "traced once per signature, then replayed")):
        ratio = times[key] / times["ref"]
        rows.append(Row(
            f"{workload}{'' if key == 'tensorjac' else ', cache=True'}",
            reference,
            times["ref"],
            ratio,
            f"<= {target}x",
            ratio <= target and ok,
            peers=peers if key == "tensorjac" else {},
            notes=[f"{how}; {notes}"],
        ))
    return rows


def _traced_network(peers, repeats, sizes, target):
    from network_gradient import make_problem, numpy_backprop_gradient

    problem = make_problem(**sizes)
    X, Y, W, b, V, c = problem
    ref = numpy_backprop_gradient(*problem)
    grad = tj.grad(network_loss, argnums=(0, 1, 2, 3))
    cached = tj.grad(network_loss, argnums=(0, 1, 2, 3), cache=True)
    for how, g in (("", grad), (" cache=True", cached)):
        for _ in range(2):  # the second call of the cached one replays
            got = dict(zip("WbVc", g(W, b, V, c, X, Y)))
            for name in ref:
                _check(f"traced network gradient{how} {name}", got[name], ref[name], rtol=1e-9, atol=1e-12)
    contenders = {"ref": lambda: numpy_backprop_gradient(*problem), "tensorjac": lambda: grad(W, b, V, c, X, Y),
                  "tensorjac cache": lambda: cached(W, b, V, c, X, Y)}
    what = {}
    for col, desc, fn, first in _network_loss_peers(peers, *problem):
        _check(f"traced network gradient W ({desc})", np.asarray(first()), ref["W"], rtol=1e-8, atol=1e-10)
        contenders[col] = fn
        what[col] = (desc, col)
    times, rounds = interleaved_medians(contenders, repeats)
    label = ", ".join(f"{k}={v}" for k, v in sizes.items())
    return _cache_rows(f"tj.grad of the plain-numpy network loss ({label})", "hand-written numpy backprop",
                       times, target, _ratios(times, "ref", what), f"median of {rounds} interleaved rounds")


def traced_network(peers, repeats):
    return _traced_network(peers, repeats, dict(N=512, d=784, k=256, m=10), 1.2)


def traced_network_small(peers, repeats):
    return _traced_network(peers, repeats, dict(N=8, d=4, k=3, m=2), 5)


def traced_tanh_net(peers, repeats):
    rows = []
    for n, target in ((1000, 1.1), (100, 2.0)):
        rng = np.random.default_rng(n)
        W1, W2 = rng.normal(size=(n, n)) / math.sqrt(n), rng.normal(size=(n, n)) / math.sqrt(n)
        x = rng.normal(size=n)

        def hand(W1=W1, W2=W2, x=x):
            h1 = np.tanh(W1 @ x)
            h2 = np.tanh(W2 @ h1)
            return ((1 - h2 * h2)[:, None] * W2) @ ((1 - h1 * h1)[:, None] * W1)

        def f(x, W1=W1, W2=W2):
            return np.tanh(W2 @ np.tanh(W1 @ x))

        jac, cached = tj.jacobian(f), tj.jacobian(f, cache=True)
        for how, j in (("", jac), (" cache=True", cached)):
            for _ in range(2):
                _check(f"traced tanh network n={n}{how}", j(x).dense(), hand(), rtol=1e-10, atol=1e-13)
        contenders = {"ref": hand, "tensorjac": lambda jac=jac, x=x: jac(x).dense(),
                      "tensorjac cache": lambda cached=cached, x=x: cached(x).dense()}
        what = {}
        if peers.jax is not None:
            jax, jnp = peers.jax, peers.jax.numpy
            jW1, jW2, jx = jnp.asarray(W1), jnp.asarray(W2), jnp.asarray(x)
            jj = jax.jit(jax.jacrev(lambda x: jnp.tanh(jW2 @ jnp.tanh(jW1 @ x))))
            contenders["JAX"] = lambda jj=jj, jx=jx: jax.block_until_ready(jj(jx))
            what["JAX"] = ("jax.jit(jacrev)", "JAX")
        if peers.torch is not None:
            torch = peers.torch
            tW1, tW2, tx = torch.from_numpy(W1), torch.from_numpy(W2), torch.from_numpy(x)
            tjac = torch.func.jacrev(lambda x: torch.tanh(tW2 @ torch.tanh(tW1 @ x)))
            contenders["PyTorch"] = lambda tjac=tjac, tx=tx: tjac(tx)
            what["PyTorch"] = ("torch.func.jacrev", "PyTorch")
        if peers.autograd is not None:
            import autograd
            import autograd.numpy as anp

            ajac = autograd.jacobian(lambda x: anp.tanh(anp.dot(W2, anp.tanh(anp.dot(W1, x)))))
            contenders["autograd"] = lambda ajac=ajac, x=x: ajac(x)
            what["autograd"] = ("autograd.jacobian", "autograd")
        note, ok = _optimal_note(f, x)
        times, rounds = interleaved_medians(contenders, repeats)
        rows += _cache_rows(f"tj.jacobian of x -> tanh(W2 tanh(W1 x)), n = {n}", "explicit formula (d2*W2) @ (d1*W1)",
                            times, target, _ratios(times, "ref", what),
                            f"median of {rounds} interleaved rounds, then dense(); {note}", ok)
    return rows


def traced_elementwise(peers, repeats, n=10_000):
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)

    def hand():
        e = np.exp(x)
        s = np.sin(e)
        return (1 - np.tanh(s) ** 2) * np.cos(e) * e

    jac = tj.jacobian(lambda x: np.tanh(np.sin(np.exp(x))))
    J = jac(x)
    _check("traced elementwise (diagonal)", J.jvp(np.ones(n)), hand(), rtol=1e-12)
    assert J.nbytes <= 3 * n * 8, f"the traced chain did not stay diagonal: {J!r}"
    cached = tj.jacobian(lambda x: np.tanh(np.sin(np.exp(x))), cache=True)
    for _ in range(2):
        _check("traced elementwise, cache=True", cached(x).jvp(np.ones(n)), hand(), rtol=1e-12)
    times, rounds = interleaved_medians({"ref": hand, "tensorjac": lambda: jac(x), "tensorjac cache": lambda: cached(x)},
                                        repeats)
    return _cache_rows(f"tj.jacobian of tanh(sin(exp(x))), n = {n}", "hand-written diagonal", times, 3, {},
                       f"median of {rounds} interleaved rounds; result kept diagonal "
                       f"({J.nbytes:,} bytes stored vs {n * n * 8:,} dense)")


WORKLOADS = {
    "traced_network": traced_network,
    "traced_network_small": traced_network_small,
    "traced_tanh_net": traced_tanh_net,
    "traced_elementwise": traced_elementwise,
}
