"""The solved exercise of note 001: the gradient of a one-hidden-layer network, by the chain rule.

The network of note 001 maps a batch X (N x d) with one-hot labels Y (N x m) to the loss

    loss(W, b, V, c) = cross_entropy(Y, softmax(logit(X @ W + b) @ V + c))

where ``logit`` is the notes' name for the logistic sigmoid 1 / (1 + exp(-z)) (strictly, the
logit is its inverse), ``softmax`` normalises each row and ``cross_entropy(P, Q) =
-sum(P * log(Q))``.  Shapes: W is (d, k), b is (k,), V is (k, m), c is (m,).  (The notes
write W in T_(k,d), but their code computes X @ W, which needs W of shape (d, k).)

This script

1. finishes the exercise literally: ``nn_loss_gradient_closure`` completed with the chain
   rule and ``np.tensordot`` on dense Jacobians, fixing the draft's bugs (each fix is marked
   ``FIX``);
2. computes the same gradient with tensorjac blocks and the block chain rule (``compose``);
3. computes it in one line, ``tj.grad`` of the loss written as plain numpy code (with the
   stable ``log_softmax`` in place of ``log(softmax(.))``, which overflows for logit gaps
   beyond ~745);
4. checks all four blocks (W, b, V, c), from all three, against finite differences and prints
   a table;
5. trains the network with the backpropagation update of note 001 on a generated data set.

It exits with status 1 if any block disagrees with finite differences.

Run it with ``python examples/nn_backprop.py``; ``--plot loss.png`` also saves the training
loss curve as a PNG (needs matplotlib: ``pip install "tensorjac[plot]"``).
"""

from __future__ import annotations

import sys

import numpy as np

import tensorjac as tj

# =============================================================================================
# 1. The exercise, literally: dense Jacobians and np.tensordot
# =============================================================================================


def affine_jacobian(X, W):
    """Jacobian of X @ W with respect to W: D[a, b, i, j] = X[a, i] delta[b, j]  (as in the notes)."""
    D = np.zeros((X.shape[0], W.shape[1], W.shape[0], W.shape[1]))
    for k in range(W.shape[1]):
        D[:, k, :, k] = X
    return D


def affine_input_jacobian(X, W):
    """Jacobian of X @ W with respect to X: D[a, b, i, j] = delta[a, i] W[j, b].

    FIX: the draft has no Jacobian for the hidden layer H in H @ V + c, yet the chain rule from
    the loss back to W and b has to pass through it.
    """
    D = np.zeros((X.shape[0], W.shape[1], X.shape[0], X.shape[1]))
    for a in range(X.shape[0]):
        D[a, :, a, :] = W.T
    return D


def logit(z):
    """The logistic sigmoid, elementwise.

    FIX: the draft's ``1/(1+np.exp(-z))`` overflows (with a RuntimeWarning) for z < -709;
    exp(-|z|) never does, and the two branches give the same value.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def Dlogit(Z):
    """The Jacobian of the matrix logit: diagonal, with logit'(z) = logit(z) * logit(-z)."""
    D = np.zeros((Z.shape[0], Z.shape[1], Z.shape[0], Z.shape[1]))
    for k in range(Z.shape[0]):
        D[k, :, k, :] = np.diag(logit(Z[k, :]) * logit(-Z[k, :]))
    return D


def softmax(z):
    # FIX (robustness): shift by the maximum so that exp cannot overflow for large logits.
    v = np.exp(z - np.max(z))
    return v / np.sum(v)


def matrix_softmax(Z):
    return np.apply_along_axis(softmax, 1, Z)


def Dmatrix_softmax(Z):
    """Jacobian of the row-wise softmax: block-diagonal over rows, diag(v) - v v^T in each block."""
    D = np.zeros((Z.shape[0], Z.shape[1], Z.shape[0], Z.shape[1]))
    for k in range(Z.shape[0]):
        v = softmax(Z[k, :])
        # FIX: for a 1-D array v, ``v @ v.T`` is the inner product (a scalar: v.T does nothing
        # to a 1-D array), so the draft subtracted one number from every entry.  The Jacobian
        # needs the outer product v v^T.
        D[k, :, k, :] = np.diag(v) - np.outer(v, v)
    return D


def cross_entropy(P, Q):
    return -np.sum(P * np.log(Q))


def DQcross_entropy(P, Q):
    """Jacobian of cross_entropy(P, Q) with respect to Q: a scalar output, so an array shaped like Q.

    FIX: the draft's ``- P @ (1/Q)`` is a matrix product (and fails for N != m); the
    derivative of -sum(P * log(Q)) with respect to Q[a, b] is -P[a, b] / Q[a, b], elementwise.
    """
    return -P / Q


def nn_loss_closure(X, Y):
    # vars[0]=W, vars[1]=b, vars[2]=V, vars[3]=c
    def f(vars):
        return cross_entropy(Y, matrix_softmax(logit(X @ vars[0] + vars[1]) @ vars[2] + vars[3]))

    return f


def nn_loss_gradient_closure(X, Y):
    """The finished exercise: the gradients [dW, db, dV, dc] by the chain rule and np.tensordot."""

    def df(vars):
        # FIX: the draft used the undefined names b and c; they are vars[1] and vars[3].
        W, b, V, c = vars
        # Gather all the intermediate values and Jacobians
        XWb = X @ W + b
        H = logit(XWb)
        # FIX: the draft defined ``Hvc`` and then used ``HVc``; one name for one thing.
        HVc = H @ V + c
        DQ = DQcross_entropy(Y, matrix_softmax(HVc))  # (N, m): d loss / d Q
        DZ = Dmatrix_softmax(HVc)  # (N, m, N, m): d Q / d HVc
        DV = affine_jacobian(H, V)  # (N, m, k, m): d HVc / d V
        # FIX: the draft wrote ``Dc = affine_jacobian(np.ones(c.shape[1]).T, c)``: c is 1-D (no
        # shape[1]), and the same line for b also assigned to Dc, overwriting it.  Broadcasting
        # c over the rows is "c is the weight of a constant input 1":  1_N @ c[None, :], so its
        # Jacobian is affine_jacobian(ones((N, 1)), c[None, :]), of shape (N, m, 1, m).
        Dc = affine_jacobian(np.ones((X.shape[0], 1)), c[None, :]).reshape(X.shape[0], c.size, c.size)
        DH = affine_input_jacobian(H, V)  # (N, m, N, k): d HVc / d H
        DXWb = Dlogit(XWb)  # (N, k, N, k): d H / d XWb
        DW = affine_jacobian(X, W)  # (N, k, d, k): d XWb / d W
        Db = affine_jacobian(np.ones((X.shape[0], 1)), b[None, :]).reshape(X.shape[0], b.size, b.size)

        # The chain rule, contracting from the loss backwards: c(DF, DG) = tensordot over the
        # two middle axes.  Each g_* is the gradient of the loss with respect to that quantity.
        g_HVc = np.tensordot(DQ, DZ, axes=2)  # (N, m)
        dV = np.tensordot(g_HVc, DV, axes=2)  # (k, m)
        dc = np.tensordot(g_HVc, Dc, axes=2)  # (m,)
        g_H = np.tensordot(g_HVc, DH, axes=2)  # (N, k)
        g_XWb = np.tensordot(g_H, DXWb, axes=2)  # (N, k)
        dW = np.tensordot(g_XWb, DW, axes=2)  # (d, k)
        db = np.tensordot(g_XWb, Db, axes=2)  # (k,)
        return [dW, db, dV, dc]

    return df


# =============================================================================================
# 2. The same gradient with tensorjac: structured blocks and the block chain rule
# =============================================================================================


def tensorjac_layers(X, Y, W, b, V, c):
    """Forward pass: the value and the Jacobian blocks of every layer (nothing dense is built)."""
    A, D_affine1 = tj.get_rule("affine").value_and_jacobian(X, W, b, argnums=("W", "b"))
    H, D_logit = tj.get_rule("logit").value_and_jacobian(A, names=("A",))
    Z, D_affine2 = tj.get_rule("affine").value_and_jacobian(H, V, c, argnums=("H", "V", "c"), names=("H", "V", "c"))
    Q, D_softmax = tj.get_rule("softmax").value_and_jacobian(Z, names=("Z",))
    loss, D_loss = tj.get_rule("cross_entropy").value_and_jacobian(Y, Q, argnums="Q", names=("Y", "Q"))
    return loss, [D_loss, D_softmax, D_affine2, D_logit, D_affine1]


def tensorjac_gradient(X, Y, W, b, V, c) -> dict[str, np.ndarray]:
    """The gradient of the network loss by the block chain rule of note 001.

    ``compose(outer, {name: inner})`` is D_x outer = c(D_name outer, D_x inner) for every
    variable x of the inner function.  Composing from the loss backwards keeps every
    intermediate as small as the cotangent: that order *is* backpropagation.
    """
    _, (D_loss, D_softmax, D_affine2, D_logit, D_affine1) = tensorjac_layers(X, Y, W, b, V, c)
    D = tj.compose(D_loss, {"Q": D_softmax})  # blocks: Z
    D = tj.compose(D, {"Z": D_affine2})  # blocks: H, V, c
    D = tj.compose(D, {"H": D_logit})  # blocks: A, V, c
    D = tj.compose(D, {"A": D_affine1})  # blocks: W, b, V, c
    # The loss is a scalar, so each block (out_shape ()) is the gradient, shaped like its variable.
    return {name: D[name].dense() for name in ("W", "b", "V", "c")}


def network_loss_numpy(W, b, V, c, X, Y):
    """The network loss as plain numpy code: tensorjac differentiates it as written.

    ``-sum(Y * log_softmax(Z))`` is ``cross_entropy(Y, softmax(Z))`` computed stably: the
    softmax of logits ``[0, -800, 0]`` underflows to 0 and its log to -inf, while
    ``log_softmax`` gives -800.69.
    """
    Z = tj.logit(X @ W + b) @ V + c
    return -np.sum(Y * tj.log_softmax(Z))


#: The gradient in one line: backpropagation over the trace of the plain numpy loss.
network_grad = tj.grad(network_loss_numpy, argnums=(0, 1, 2, 3))


def one_line_gradient(X, Y, W, b, V, c) -> dict[str, np.ndarray]:
    return dict(zip("WbVc", network_grad(W, b, V, c, X, Y)))


def numpy_backprop_gradient(X, Y, W, b, V, c) -> dict[str, np.ndarray]:
    """Hand-written backpropagation for the same loss: the reference for speed and correctness."""
    A = X @ W + b
    H = logit(A)
    Z = H @ V + c
    Q = np.exp(Z - Z.max(axis=1, keepdims=True))
    Q /= Q.sum(axis=1, keepdims=True)
    g_Z = Q * Y.sum(axis=1, keepdims=True) - Y  # d/dZ of -sum(Y * log softmax(Z))
    g_A = (g_Z @ V.T) * H * (1 - H)
    return {"W": X.T @ g_A, "b": g_A.sum(axis=0), "V": H.T @ g_Z, "c": g_Z.sum(axis=0)}


def network_loss(X, Y, W, b, V, c) -> float:
    return float(nn_loss_closure(X, Y)([W, b, V, c]))


# =============================================================================================
# 3. Checks and 4. training
# =============================================================================================


def make_problem(N, d, k, m, seed=0):
    """A random batch with one-hot labels and small random parameters."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    Y = np.eye(m)[rng.integers(0, m, size=N)]
    W = rng.normal(size=(d, k)) / np.sqrt(d)
    b = 0.1 * rng.normal(size=k)
    V = rng.normal(size=(k, m)) / np.sqrt(k)
    c = 0.1 * rng.normal(size=m)
    return X, Y, W, b, V, c


def check_against_finite_differences(X, Y, W, b, V, c, rtol=1e-6):
    """Table of (block, shape, max abs error, max rel error, ok) against numerical_jacobian."""
    analytic = tensorjac_gradient(X, Y, W, b, V, c)
    exercise = dict(zip("WbVc", nn_loss_gradient_closure(X, Y)([W, b, V, c])))
    one_line = one_line_gradient(X, Y, W, b, V, c)
    numeric = tj.numerical_jacobian(lambda W, b, V, c: network_loss(X, Y, W, b, V, c), W, b, V, c)
    rows = []
    for name in ("W", "b", "V", "c"):
        ref = numeric[name].dense()
        scale = max(np.abs(ref).max(), 1e-300)
        for label, grad in (("compose", analytic[name]), ("exercise", exercise[name]), ("tj.grad", one_line[name])):
            abs_err = float(np.abs(grad - ref).max())
            rel_err = abs_err / scale
            rows.append((f"{name} ({label})", ref.shape, abs_err, rel_err, rel_err <= rtol))
    return rows


def make_rings(n_per_class=150, seed=1):
    """Two noisy concentric rings in the plane: not linearly separable, so the hidden layer matters."""
    rng = np.random.default_rng(seed)
    radius = np.concatenate([rng.normal(1.0, 0.15, n_per_class), rng.normal(2.0, 0.15, n_per_class)])
    angle = rng.uniform(0, 2 * np.pi, 2 * n_per_class)
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    labels = np.repeat([0, 1], n_per_class)
    return X, np.eye(2)[labels], labels


def train(X, Y, k=8, steps=1500, lr=0.5, seed=2, report_every=300):
    """Gradient descent with the backpropagation update of note 001, layer by layer from the top.

    At every step the forward pass gives each layer's Jacobian blocks; then, as in note 001,
    the last layer's parameters are updated with the cotangent q at their output, q is pulled
    back through the layer (q <- c(q, D_x f)), and so on down to the first layer.
    """
    rng = np.random.default_rng(seed)
    d, m = X.shape[1], Y.shape[1]
    W, b = rng.normal(size=(d, k)), np.zeros(k)
    V, c = rng.normal(size=(k, m)) / np.sqrt(k), np.zeros(m)
    step = lr / X.shape[0]  # the loss is a sum over samples
    history = []
    for it in range(steps + 1):
        loss, (D_loss, D_softmax, D_affine2, D_logit, D_affine1) = tensorjac_layers(X, Y, W, b, V, c)
        if it % report_every == 0:
            history.append((it, float(loss)))
        if it == steps:
            break
        q = tj.chain_vjp(D_softmax["Z"], D_loss["Q"].dense())  # d loss / d Z
        V, c, q = V - step * tj.chain_vjp(D_affine2["V"], q), c - step * tj.chain_vjp(D_affine2["c"], q), tj.chain_vjp(D_affine2["H"], q)
        q = tj.chain_vjp(D_logit["A"], q)  # d loss / d (X W + b)
        W, b = W - step * tj.chain_vjp(D_affine1["W"], q), b - step * tj.chain_vjp(D_affine1["b"], q)
    Q = tj.get_rule("softmax")(tj.get_rule("affine")(logit(X @ W + b), V, c))
    return (W, b, V, c), history, Q


def save_loss_curve(history, path) -> None:
    """Save the training loss, step by step, as a PNG (needs matplotlib: pip install "tensorjac[plot]")."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('--plot needs matplotlib, the "plot" extra: pip install "tensorjac[plot]"') from exc
    steps, losses = zip(*history)
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    ax.plot(steps, losses, color="tab:blue")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("cross-entropy loss (sum over 300 points)")
    ax.set_title("note 001's backpropagation update on two rings")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _main(plot=None) -> int:
    print("1-4. Gradient of the note-001 network loss at N=6, d=4, k=3, m=2")
    problem = make_problem(N=6, d=4, k=3, m=2)
    rows = check_against_finite_differences(*problem)
    print("    (compose: the block chain rule; exercise: tensordot on dense Jacobians; tj.grad: one line)")
    print(f"{'block':<16}{'shape':<10}{'max abs error':>15}{'max rel error':>15}  ok")
    for name, shape, abs_err, rel_err, ok in rows:
        print(f"{name:<16}{str(shape):<10}{abs_err:>15.2e}{rel_err:>15.2e}  {'yes' if ok else 'NO'}")
    all_ok = all(row[-1] for row in rows)
    print("every block agrees with finite differences (rel. tolerance 1e-6)" if all_ok
          else "SOME BLOCK DISAGREES WITH FINITE DIFFERENCES")

    print("\n5. Training on two concentric rings (300 points, 8 hidden units), note 001's backprop update")
    X, Y, labels = make_rings()
    _, history, Q = train(X, Y, report_every=1 if plot else 300)
    for it, loss in history:
        if it % 300 == 0:
            print(f"  step {it:5d}   loss {loss:9.4f}")
    accuracy = float(np.mean(Q.argmax(axis=1) == labels))
    print(f"  final accuracy {accuracy:.1%}")
    if plot:
        save_loss_curve(history, plot)
        print(f"  loss curve saved to {plot}")
    return 0 if all_ok else 1


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Note 001's network gradient by the chain rule, checked and trained.")
    parser.add_argument("--plot", metavar="PATH", help="save the training loss curve as a PNG (needs matplotlib)")
    args = parser.parse_args([] if argv is None else argv)
    with np.printoptions(precision=4, suppress=True):  # printing only: the caller's options stay
        return _main(args.plot)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
