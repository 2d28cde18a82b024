"""The references a rule is checked against: a registered rule's Jacobian, or float64 finite differences."""

from __future__ import annotations

import numpy as np

from ..numerical import FiniteDifferenceError, numerical_jacobian
from ._compare import RETRY_FACTORS, REPRESENTATION

__all__ = ["NumericalReference", "RuleReference"]


class NumericalReference:
    """Finite differences in float64 (``numerical_jacobian``), for selected input entries."""

    exact = False

    def __init__(self, setup: Setup, pos: int):
        self.setup, self.pos = setup, pos
        self.steps = [setup.base_step] + [setup.base_step * r for r in RETRY_FACTORS]

    def _call(self, args):
        return self.setup.fun(*args, **self.setup.kwargs)

    def columns(self, cols, step):
        """Columns ``cols`` (flat input entries) of the Jacobian matrix, their errors and absolute steps."""
        s, pos = self.setup, self.pos
        x = s.args64[pos]
        flat = x.reshape(-1)

        def g(z):
            xx = flat.copy()
            xx[cols] = z
            args = list(s.args64)
            args[pos] = xx.reshape(x.shape)
            return self._call(args)

        try:
            nb = numerical_jacobian(g, flat[cols], step=step, names=("z",))
        except FiniteDifferenceError as exc:
            index = tuple(int(i) for i in np.unravel_index(int(np.asarray(cols)[exc.index[0]]), x.shape))
            raise ValueError(f"check_{s.kind}: the finite-difference reference fails: "
                             + exc.message(s.names[pos], index)) from exc
        J = nb["z"].dense().reshape(s.n_out, len(cols))
        E = np.asarray(nb.errors["z"]).reshape(s.n_out, len(cols))
        h = np.asarray(nb.steps["z"]).reshape(-1)
        # (numerical_jacobian divides by the stored distance between its probes, so rounding of
        # x_j +- h adds no error here, unlike in ``directional`` below.)
        return J, E, h

    def directional(self, v, step, scale=1.0):
        """``scale * J v`` by central differences along ``v`` (Richardson), its error and the step in t.

        ``scale`` (a power of two) multiplies ``f``'s values, so that ``J v`` near the largest
        float stays finite; the probes are those of ``J v`` itself.
        """
        s, pos = self.setup, self.pos

        def phi(t):
            args = list(s.args64)
            args[pos] = s.args64[pos] + t * v
            out = self._call(args)
            return out if scale == 1 else np.asarray(out, dtype=np.float64) * scale

        try:
            nb = numerical_jacobian(phi, np.zeros(()), step=step, names=("t",))
        except FiniteDifferenceError as exc:
            raise ValueError(f"check_{s.kind}: the finite-difference reference fails: "
                             + exc.message(f"{s.names[pos]} along a random direction v", "(all entries)")) from exc
        Jv = nb["t"].dense().reshape(-1)
        h = float(np.asarray(nb.steps["t"]))
        # x + t v is rounded entry by entry (by up to eps |x_j| / 2, with |x_j| <= |v_j| / |r_j|).
        err = np.asarray(nb.errors["t"]).reshape(-1) + REPRESENTATION * np.abs(Jv) / h
        return Jv, err, h


class RuleReference:
    """A registered rule's structured Jacobian, evaluated in float64."""

    exact = True
    steps = [None]

    def __init__(self, setup: Setup, pos: int):
        self.setup, self.pos = setup, pos
        self.J = setup.rule.jacobian(*setup.args64, argnums=[pos], **setup.kwargs)[0]

    def columns(self, cols, step=None):
        n_in = self.setup.args64[self.pos].size
        J = self.J.dense().astype(np.float64).reshape(self.setup.n_out, n_in)[:, cols]
        return J, np.zeros_like(J), None

    def directional(self, v, step=None, scale=1.0):
        Jv = np.asarray(self.J.jvp(v * scale), dtype=np.float64).reshape(-1)
        return Jv, np.zeros_like(Jv), None


