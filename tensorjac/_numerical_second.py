"""Finite-difference Hessians: the reference second-derivative rules are checked against.

For a pair of input entries ``(x_i, y_j)`` (of one argument or of two), second differences are
taken at the steps ``s = h_i / r**k`` along ``x_i`` and ``t = h_j / r**k`` along ``y_j``
(``k = 0, 1, 2, ...``), from ``h_i = step * max(|x_i|, 1)`` and with ``r = e`` as in
:func:`~tensorjac.numerical_jacobian`; each step is rounded so that the probes are exact floats,
and the differences divide by the distances between the probes as stored:

* the diagonal ``d²f / dx_i²``, three points: ``(f(x + s) - 2 f(x) + f(x - s)) / s**2``;
* a mixed entry ``d²f / dx_i dy_j``, four points:
  ``(f(+s, +t) - f(+s, -t) - f(-s, +t) + f(-s, -t)) / (4 s t)``.

Both have truncation error ``O(s**2)``; Richardson extrapolation of neighbours,
``D(s/r) + (D(s/r) - D(s)) / (r**2 - 1)``, cancels it.  As in ``numerical_jacobian``, a
*window* of four differences is accepted only when it behaves as the extrapolation assumes:
from one step to the next, the differences of the ``D``'s, of the first differences the same
probes give (``(f(x+s) - f(x-s)) / 2s``) and of the even part (``mean(f(probes)) - f(x)``)
shrink by a factor in :data:`~tensorjac.numerical.RATIO_RANGE` or are rounding noise, and the
finest extrapolation agrees with the middle one to within the latter's claimed error;
otherwise the window slides one step down (``sin`` at ``1e5`` needs steps far below the
relative 1800).  The value is the middle extrapolation.  Its error estimate is the sum of its
distances to the two others (where truncation dominates, about ``r**4 ~ 55`` times the
truncation error) plus rounding: ``8 noise / s**2`` for the diagonal, ``2 noise / (s t)`` for
a mixed entry (twice the worst case of the probes' rounding), plus ``eps`` times the value,
where ``noise`` is the larger of ``eps |f|`` (``eps`` of ``f``'s output precision) and the
rounding noise *measured* near the point (:func:`_measured_noise`: an ill-conditioned ``f``
such as ``log(x*x + y)`` near 1 is noisier than ``eps |f|``; an ``f`` whose values are all
float32 numbers, computed in float32 and returned as float64, is given float32's ``eps``).  While truncation dominates,
the window keeps sliding as long as the estimate improves.  On 1,000 seeded random cases (ten
families of smooth functions, elementwise to softmax and broadcast products, against
:func:`tensorjac.hessian`; tests/test_numerical_hessian.py runs 48 of them) the real error
stayed below 0.41 of the estimate, and the estimate near 1e-9 of the entries' size (median).

Probes where ``f`` is not finite (a pole, a domain edge) restart the sequence at tenfold
smaller steps along the coordinates that come near zero (else all), until the steps are below
a small ``|x_i|`` (``log`` at ``1e-12``).  A sequence that never becomes regular but whose
differences are noise (a noisy ``f``) gives its best value with the spread of its
extrapolations as error; a second difference growing like ``1/s`` or ``1/s**2`` (a kink or a
jump of ``f``), or steps that reach the resolution of ``x`` without converging, raise
:class:`~tensorjac.numerical.FiniteDifferenceError` naming the entry.

**Symmetry.**  Each unordered pair ``{i, j}`` is computed once, by a formula symmetric in the
two entries, and written at ``(i, j)`` and ``(j, i)``: a diagonal block ``H[x, x]`` is exactly
symmetric, and ``H[y, x]`` is exactly the transpose of ``H[x, y]`` (what averaging the
``(i, j)`` and ``(j, i)`` estimates would give if both were computed).  Entries
``0 < |x_i| < 1/16`` are probed at the absolute step ``step``, as all others (no refinement
at the relative step ``step * |x_i|``, unlike ``numerical_jacobian``): a derivative that
varies on the scale of ``|x_i|`` is then resolved as far as ``.errors`` says.
"""

from __future__ import annotations

import math

import numpy as np

from . import _budget
from ._hessian import second_structured
from ._validation import select_args
from .numerical import (
    MAX_DIFFERENCES, NONFINITE_RETRIES, QUIET, RATIO, RATIO_RANGE, WINDOW, FiniteDifferenceError,
    _as_point, _note, arg_names, check_names, check_step, real_output,
)
from .trace._second import HessianBlocks

__all__ = ["numerical_hessian", "NumericalHessian", "HESSIAN_STEP", "hessian_pairs", "output_eps", "default_step"]

_EPS = float(np.finfo(np.float64).eps)
_ETA = float(np.finfo(np.float64).smallest_subnormal)
_EPS32 = float(np.finfo(np.float32).eps)
#: Relative base step for a float64 ``f``.  The extrapolated second difference has truncation
#: error O(s**4) and rounding error O(eps / s**2); they balance near s = eps**(1/6) ~ 2.5e-3 for
#: an ``f`` varying on the unit scale, which is the finer step of the *middle* extrapolation
#: (the third step of the window) when the window starts at ``eps**(1/6) * RATIO**2`` ~ 0.018.
#: The window slides down from there while truncation dominates.  (For an ``f`` returning
#: float32: float32's ``eps**(1/6) * RATIO**2`` ~ 0.52.)
HESSIAN_STEP = float(_EPS ** (1 / 6) * RATIO**2)


class NumericalHessian(HessianBlocks):
    """:class:`~tensorjac.HessianBlocks` of finite-difference second derivatives, with what produced them.

    ``H["x", "y"]`` is a dense :class:`~tensorjac.Hessian` of shape ``out_shape + x.shape +
    y.shape`` (``H["y", "x"]`` its transpose); ``H.matrix()`` assembles a scalar output's
    symmetric matrix.

    Attributes:
        value: ``f(*args)`` in float64.
        errors: ``{(x, y): array}`` for every ordered pair of differentiated arguments, an
            estimate of the absolute error of every entry (the shape of the block).
        steps: ``{(x, y): array}`` of shape ``x.shape + y.shape``: the relative step of the
            window used for each entry (its probes moved ``x_i`` by ``steps * max(|x_i|, 1)``
            and ``y_j`` by ``steps * max(|y_j|, 1)``, at the coarsest step of the window).
    """

    def __init__(self, names, blocks, out_shape, value, errors, steps):
        super().__init__(names, blocks, out_shape)
        self.value, self.errors, self.steps = value, errors, steps

    def __repr__(self):
        return f"NumericalHessian(out_shape={self.out_shape}, arguments={list(self.names)})"


# ---- One entry of the Hessian: second differences at shrinking steps -------------------------


def _offset(x: float, s: float) -> tuple[float, float]:
    """The offsets ``(a, b)`` actually realised by the probes ``x + s`` and ``x - s``."""
    return (x + s) - x, x - (x - s)


class _Second:
    """The second differences of one entry (one coordinate: the diagonal; two: a mixed entry).

    ``requests()`` gives the probes still needed (tuples of new coordinate values), ``feed``
    takes ``f`` there (rows over the outputs).  When ``done``, ``result`` is ``(value, error,
    relative step)``, or ``None`` with ``failure`` saying why.
    """

    def __init__(self, origs, hs, eps: float, value: np.ndarray, measured: np.ndarray):
        self.origs, self.hs, self.eps, self.value = tuple(origs), list(hs), eps, value
        # steps are reported relative to max(|x_i|, 1) (the smaller one of a mixed entry)
        self.scales = [max(abs(x), 1.0) for x in self.origs]
        self.measured = measured  # f's rounding noise measured near the point (see _measured_noise)
        self.coarse = np.zeros(value.shape, dtype=bool)  # outputs seen to take float32 values only
        self.floor = [64 * float(np.spacing(abs(x))) for x in self.origs]
        # Tenfold restarts where f is not finite: enough to bring the steps below a small |x_i| (log
        # at 1e-12 probes below 1e-12), and NONFINITE_RETRIES more.
        below = [math.ceil(math.log10(h / abs(x))) for x, h in zip(self.origs, self.hs) if 0 < abs(x) < h]
        self.retries = NONFINITE_RETRIES + max(below, default=0)
        self.window, self.count = [], 0
        self.best = self.guess = self.low = self.high = None
        self.done, self.result, self.failure, self.failed_step, self.growth = False, None, None, None, None

    def _steps(self, k):
        return [h / RATIO**k for h in self.hs]

    def _relative(self, k) -> float:
        return min(s / c for s, c in zip(self._steps(k), self.scales))

    def requests(self) -> list[tuple]:
        probes = []
        for k in range(self.count, max(self.count + 1, WINDOW)):
            steps = self._steps(k)
            if len(self.origs) == 1:
                (x,), (s,) = self.origs, steps
                probes += [(x + s,), (x - s,)]
            else:
                (x, y), (s, t) = self.origs, steps
                probes += [(x + s, y + t), (x + s, y - t), (x - s, y + t), (x - s, y - t)]
        return probes

    def feed(self, values: np.ndarray) -> None:
        per = 2 if len(self.origs) == 1 else 4
        f0 = self.value
        for i in range(len(values) // per):
            rows = values[per * i:per * (i + 1)]
            k = self.count
            offsets = [_offset(x, s) for x, s in zip(self.origs, self._steps(k))]
            if not np.isfinite(rows).all():
                self._restart(k)
                return
            if per == 2:
                (a, b), = offsets
                up, down = rows
                D = 2 * ((up - f0) / a + (down - f0) / b) / (a + b)
                odd = [(up - down) / (a + b)]
                widths = [a + b]
            else:
                (a1, b1), (a2, b2) = offsets
                pp, pm, mp, mm = rows
                D = (pp - pm - mp + mm) / ((a1 + b1) * (a2 + b2))
                odd = [(pp + pm - mp - mm) / (2 * (a1 + b1)), (pp - pm + mp - mm) / (2 * (a2 + b2))]
                widths = [a1 + b1, a2 + b2]
            S = np.maximum(np.max(np.abs(rows), axis=0), np.abs(f0))
            # An f that computes in float32 and returns float64 varies in float32 steps: where every value is
            # a float32 (and some differ), its rounding is float32's from then on.
            self.coarse |= np.all(rows == rows.astype(np.float32), axis=0) & (f0 == f0.astype(np.float32)) & np.any(
                rows != f0, axis=0)
            noise = np.maximum(np.maximum(self.eps, self.coarse * _EPS32) * S, self.measured) + _ETA
            # |D|'s rounding: 4 noise / s**2 (diagonal: weights 1, -2, 1), 4 noise / (4 s t) (mixed)
            nu = 4 * noise / (widths[0] ** 2 / 4 if per == 2 else widths[0] * widths[1])
            nu_odd = [2 * noise / w for w in widths]
            even = np.mean(rows, axis=0) - f0
            if not np.isfinite(D).all():
                self._restart(k)
                return
            self.window = (self.window + [(k, D, odd, even, S, nu, nu_odd)])[-WINDOW:]
            self.count += 1
        if len(self.window) == WINDOW:
            self._judge()
        if not self.done:
            steps = self._steps(self.count)
            if self.count >= MAX_DIFFERENCES or any(s < fl for s, fl in zip(steps, self.floor)):
                self._finish(converged=False)

    def _restart(self, k: int) -> None:
        """A probe at step ``k`` is not finite: keep what was accepted, else start again ten times smaller."""
        steps = self._steps(k)
        # Shrink the steps that come near zero (a pole or a domain edge there: log(x * y) at x = 1e-3
        # needs small steps along x only), else all of them.
        near = [s > abs(x) / 2 for x, s in zip(self.origs, steps)]
        shrink = near if any(near) and not all(near) else [True] * len(steps)
        new = [s / 10 if c else s for s, c in zip(steps, shrink)]
        if self.best is not None:
            self._finish()
        elif self.retries == 0 or any(s < fl for s, fl in zip(new, self.floor)):
            self.done, self.failure, self.failed_step = True, "nonfinite", self._relative(k)
        else:
            self.retries -= 1
            self.hs = new
            self.window, self.count = [], 0
            self.guess = self.low = self.high = None

    def _judge(self) -> None:
        eps, f0 = self.eps, self.value
        ks, Ds, odds, evens, Ss, nus, nu_odds = zip(*self.window)
        regular = _regular([Ds[m] - Ds[m + 1] for m in range(3)], [QUIET * (nus[m] + nus[m + 1]) for m in range(3)])
        for c in range(len(odds[0])):
            regular &= _regular([odds[m][c] - odds[m + 1][c] for m in range(3)],
                                [QUIET * (nu_odds[m][c] + nu_odds[m + 1][c]) for m in range(3)])
        regular &= _regular(evens, [QUIET * (eps * (S + np.abs(f0)) + _ETA) for S in Ss])
        ra, rb, rc = (Ds[m + 1] + (Ds[m + 1] - Ds[m]) / (RATIO**2 - 1) for m in range(3))
        trunc = np.abs(rb - ra) + np.abs(rc - rb)
        rounding = 2 * nus[2] + eps * np.abs(rb)
        error = trunc + rounding
        consistent = np.abs(rc - rb) <= np.abs(rb - ra) + QUIET * (nus[2] + nus[3])
        worst = float(np.max(error, initial=0.0))
        step = self._relative(ks[0])
        if np.all(regular & consistent):
            if self.best is not None and worst >= float(np.max(self.best[1], initial=0.0)):
                self._finish()  # a smaller step no longer helps
                return
            self.best = (rb, error, step)
            if float(np.max(trunc, initial=0.0)) <= float(np.max(rounding, initial=0.0)):
                self._finish()  # rounding dominates: smaller steps only add noise
            return
        if self.best is not None:
            self._finish()  # accepted before, not any more: noise takes over
            return
        # D growing like 1/s (a kink: f' jumps) or 1/s**2 (f jumps) from step to step.
        with np.errstate(all="ignore"):
            growth = np.abs(np.array([Ds[1] / Ds[0], Ds[2] / Ds[1], Ds[3] / Ds[2]]))
        for power, what in ((2, "jump"), (1, "kink")):
            if np.any((np.abs(Ds[3]) > QUIET * nus[3]) & np.all(np.abs(growth - RATIO**power) < 0.1 * RATIO**power, axis=0)):
                self.growth = what
        # A rejected window is a fallback (a noisy f) only where it says something: its error below half
        # its value, or its differences mere noise.  (sin at 1e12 with steps of 1e10: D ~ 1e-20 +- 1e-20,
        # a tiny error that is no estimate of -sin(x); the steps must go on down to sin's scale.)
        quiet = np.all([np.abs(Ds[m] - Ds[m + 1]) <= QUIET * (nus[m] + nus[m + 1]) for m in range(3)], axis=0)
        if not np.all((error < 0.5 * np.abs(rb)) | quiet):
            return
        self.low = rb if self.low is None else np.minimum(self.low, rb)
        self.high = rb if self.high is None else np.maximum(self.high, rb)
        if self.guess is None or worst < float(np.max(self.guess[1], initial=0.0)):
            self.guess = (rb, error, step)
        # Stop once rounding alone at the next step would exceed the smallest error seen everywhere.
        if np.all(2 * nus[3] * RATIO**2 > self.guess[1]):
            self._finish()

    def _finish(self, converged: bool = True) -> None:
        self.done = True
        if self.best is not None:
            self.result = self.best
        elif self.guess is not None and converged and self.growth is None:
            r, e, step = self.guess
            self.result = (r, e + np.maximum(self.high - r, r - self.low), step)
        else:
            self.failure = self.growth or "unresolved"
            self.failed_step = self._relative(max(self.count - 1, 0))


def _regular(seq, noise) -> np.ndarray:
    """Where ``seq[k] / seq[k+1]`` lies in ``RATIO_RANGE`` for every k, or ``seq[k+1]`` is below ``noise[k+1]``."""
    seq, noise = np.asarray(seq), np.asarray(noise)
    with np.errstate(all="ignore"):
        ratio = seq[:-1] / seq[1:]
    ok = (np.abs(seq[1:]) <= noise[1:]) | ((ratio >= RATIO_RANGE[0]) & (ratio <= RATIO_RANGE[1]))
    return ok.all(axis=0)


# ---- Evaluating f at probes, and the driver -------------------------------------------------------


class _Evaluator:
    """Calls ``f`` with some entries of the point replaced, validating what it returns."""

    def __init__(self, f, point, names, value, kwargs):
        self.f, self.point, self.names, self.value, self.kwargs = f, point, names, value, kwargs
        self.flat = [a.reshape(-1) for a in point]  # views: writing them perturbs the arguments f sees

    def _where(self, coords, values) -> str:
        parts = []
        for (p, j), v in zip(coords, values):
            index = ", ".join(str(int(i)) for i in np.unravel_index(j, self.point[p].shape))
            delta = v - float(self.flat[p][j])
            parts.append(f"{self.names[p]}[{index}] {'+' if delta >= 0 else '-'} {abs(delta):g}")
        return "at " + ", ".join(parts)

    def __call__(self, coords, probe) -> np.ndarray:
        saved = [float(self.flat[p][j]) for p, j in coords]
        for (p, j), v in zip(coords, probe):
            self.flat[p][j] = v
        try:
            y = self.f(*self.point, **self.kwargs)
        except Exception as exc:
            _note(exc, f"(raised by f {self._where(coords, probe)}, a finite-difference probe of numerical_hessian)")
            raise
        finally:
            for (p, j), v in zip(coords, saved):
                self.flat[p][j] = v
        if not (isinstance(y, np.ndarray) and y.dtype.kind in "fiub" and y.shape == self.value.shape):
            y = real_output(y, self._where(coords, probe))
            if y.shape != self.value.shape:
                raise ValueError(f"f returned shape {y.shape} {self._where(coords, probe)}, expected "
                                 f"{self.value.shape} (from f's shape at the point)")
        return np.asarray(y, dtype=np.float64).reshape(-1)


#: Offsets, relative to ``max(|x_i|, 1)``, of the probes that measure f's rounding noise: large
#: enough that the roundings at the probes are unrelated (offsets of a few ulps move f's
#: intermediate values by whole ulps, a staircase without noise), small enough that the fourth
#: derivative times ``d**4`` is not seen (else they shrink a hundredfold, up to three times).
NOISE_OFFSETS = (1e-8, 1.7e-8, 2.9e-8)
#: The measured noise is capped at ``NOISE_CAP * eps * |f|``: an ill-conditioned ``f`` may be
#: that much noisier than ``eps |f|`` (``log(u)`` at ``u = 1 + 1e-4``), a jump of ``f`` at ``x``
#: (whose fourth differences do not shrink with ``d`` either) is not taken for noise.
NOISE_CAP = 1e4
#: Rounds of measurement, each at a hundredfold smaller offset than the one before.
NOISE_ROUNDS = 6


def _measured_noise(evaluate, coord, orig: float, f0: np.ndarray) -> np.ndarray:
    """f's rounding noise near the point along one coordinate, per output.

    Fourth differences ``f(x+2d) - 4 f(x+d) + 6 f(x) - 4 f(x-d) + f(x-2d)`` at tiny offsets ``d``
    are the fourth derivative times ``d**4`` (far below any rounding) plus the rounding of the
    five values: what ``f``'s evaluation really adds, which exceeds ``eps |f|`` where ``f`` is
    ill-conditioned (``log(x*x + y)`` near 1 rounds ``x*x + y`` to ``eps``, not ``log`` to
    ``eps |log|``).  Each is a sum of roundings with weights of total 16; the largest of three,
    divided by 8, is the noise level used (about 1.4 times the standard deviation of one
    rounding), at most :data:`NOISE_CAP` times ``eps |f|``.  Where the three grow like ``d**4``
    or exceed that cap (``sin`` at ``1e7``: ``d = 0.1``), the offsets shrink a hundredfold and the
    noise is measured again, down to 64 ulps of ``x``.
    """
    scale = max(abs(orig), 1.0)
    floor = 64 * float(np.spacing(scale))
    size = np.abs(f0)
    for _ in range(NOISE_ROUNDS):
        samples = []
        for m in NOISE_OFFSETS:
            d = (orig + m * scale) - orig
            rows = [evaluate((coord,), (orig + k * d,)) for k in (2, 1, -1, -2)]
            fourth = np.abs(rows[0] - 4 * rows[1] + 6 * f0 - 4 * rows[2] + rows[3])
            size = np.maximum(size, np.max(np.where(np.isfinite(rows), np.abs(rows), 0.0), axis=0))
            samples.append(np.where(np.isfinite(fourth), fourth, 0.0))
        cap = NOISE_CAP * _EPS * size
        suspect = np.any(samples[2] > 20 * samples[0]) or np.any(np.maximum.reduce(samples) / 8 > cap)
        if not suspect or NOISE_OFFSETS[0] * scale / 100 < floor:
            break
        scale /= 100
    # At most NOISE_CAP times eps |f|: a jump or a kink of f within 2d of x is not noise.
    return np.minimum(np.maximum.reduce(samples) / 8, cap)


def _drive(evaluate, sequences: dict) -> None:
    """Feed every sequence ``{coords: _Second}`` with ``f`` at its probes until all are done."""
    active = [(c, s) for c, s in sequences.items() if not s.done]
    while active:
        for coords, s in active:
            probes = s.requests()
            s.feed(np.array([evaluate(coords, probe) for probe in probes]))
        active = [(c, s) for c, s in active if not s.done]


def _failure(s: _Second, coords, point, names) -> FiniteDifferenceError:
    where = " and ".join(
        f"{names[p]}{list(int(i) for i in np.unravel_index(j, point[p].shape))} = {x:g}"
        for (p, j), x in zip(coords, s.origs)
    )
    entry = "the diagonal entry" if len(coords) == 1 else "the mixed entry"
    index = tuple(tuple(int(i) for i in np.unravel_index(j, point[p].shape)) for p, j in coords)
    name = names[coords[0][0]] if len(coords) == 1 else (names[coords[0][0]], names[coords[1][0]])
    why = {
        "nonfinite": f"f is not finite near the point even with the relative step {s.failed_step:.3g}; is the "
                     "point on the edge of f's domain?",
        "jump": f"f jumps there: its second differences grow like 1 / step**2 (down to the relative step "
                f"{s.failed_step:.3g}), so f is discontinuous and has no second derivative",
        "kink": f"f has a kink there: its second differences grow like 1 / step (down to the relative step "
                f"{s.failed_step:.3g}), so f's first derivative jumps and f has no second derivative",
        "unresolved": f"the second differences do not converge down to the relative step {s.failed_step:.3g}, the "
                      "resolution of the arguments there: f varies faster than float64 can probe at this point (a "
                      "large argument of a periodic function?) or is not twice differentiable there",
    }[s.failure]
    return FiniteDifferenceError(f"numerical_hessian: {entry} at {where} (argument {{name}}, index {{index}}) "
                                 f"failed: {why}", name, index)


def _entries(pairs, point):
    """The entries of the blocks ``pairs``, each once: ``((p, i),)`` on a diagonal, ``((p, i), (q, j))`` else."""
    seen = set()
    for p, q in pairs:
        for i in range(point[p].size):
            for j in range(i if p == q else 0, point[q].size):
                coords = ((p, i),) if (p, i) == (q, j) else ((p, i), (q, j))
                if coords not in seen:
                    seen.add(coords)
                    yield coords


def hessian_pairs(f, point, names, value, pairs, base, eps, kwargs=None):
    """The dense blocks ``{(p, q): (H, E, steps)}`` for the argument pairs ``pairs`` (``p <= q``).

    ``point``: float64 C-contiguous arrays (perturbed in place during probing, then restored);
    ``value``: ``f(*point)`` in float64.  ``H`` and ``E`` have shape ``out + x_p + x_q``, steps
    ``x_p + x_q``.  The internal engine of :func:`numerical_hessian` (the checkers call it for
    the mixed block of an argument and a scalar direction only).
    """
    evaluate = _Evaluator(f, point, names, value, kwargs or {})
    flat0 = value.reshape(-1)
    n_out = flat0.size
    h = [np.maximum(np.abs(a.reshape(-1)), 1.0) * base for a in point]
    x = [a.reshape(-1).copy() for a in point]
    sequences, noise = {}, {}
    # Probing may cross a domain edge or overflow; non-finite values are handled by the sequences.
    with np.errstate(all="ignore"):
        for coords in _entries(pairs, point) if n_out else ():
            for c in coords:
                if c not in noise:
                    noise[c] = _measured_noise(evaluate, c, float(x[c[0]][c[1]]), flat0)
            origs, hs = [float(x[p][k]) for p, k in coords], [float(h[p][k]) for p, k in coords]
            measured = np.maximum.reduce([noise[c] for c in coords])
            sequences[coords] = _Second(origs, hs, eps, flat0, measured)
        _drive(evaluate, sequences)
    for coords, s in sequences.items():
        if s.result is None:
            raise _failure(s, coords, point, names)
    out = {}
    for p, q in pairs:
        n_p, n_q = point[p].size, point[q].size
        H, E = np.zeros((n_out, n_p, n_q)), np.zeros((n_out, n_p, n_q))
        steps = np.zeros((n_p, n_q))
        if n_out:
            for coords in _entries([(p, q)], point):
                i, j = coords[0][1], coords[-1][1]
                r, e, st = sequences[coords].result
                H[:, i, j], E[:, i, j], steps[i, j] = r, e, st
                if p == q:
                    H[:, j, i], E[:, j, i], steps[j, i] = r, e, st
        shape = value.shape + point[p].shape + point[q].shape
        out[p, q] = (H.reshape(shape), E.reshape(shape), steps.reshape(point[p].shape + point[q].shape))
    return out


# ---- The public function ----------------------------------------------------------------------


def _check_budget(point, positions, names, out_shape, budget) -> None:
    """Refuse, before any probing, blocks and error estimates that would not fit the dense budget."""
    pairs = [(p, q) for k, p in enumerate(positions) for q in positions[k:]]
    shapes = {(names[p], names[q]): out_shape + point[p].shape + point[q].shape for p, q in pairs}
    entries = 2 * sum(math.prod(s) for s in shapes.values()) + sum(point[p].size * point[q].size for p, q in pairs)
    if not _budget.fits(entries, 8, budget):
        limit = _budget.get_dense_budget() if budget is None else int(budget)
        blocks = ", ".join(f"{pq}: {s}" for pq, s in shapes.items())
        raise MemoryError(
            f"numerical_hessian would build dense float64 blocks of shapes {{{blocks}}}, each with an error "
            f"estimate of the same shape (and steps): {entries * 8:,} bytes ({entries * 8 / 2**30:.3g} GiB), over the "
            f"dense budget of {limit:,} bytes. Select fewer arguments (argnums=...), differentiate a smaller "
            "problem, or raise the budget (budget=nbytes, or tensorjac.set_dense_budget(nbytes)); to check a "
            "Hessian-vector product on large inputs use tensorjac.testing.check_hvp, which never builds the Hessian."
        )


def output_eps(y: np.ndarray) -> float:
    """The rounding unit of ``f``'s values: float64's, or that of a coarser float ``f`` returns."""
    return max(_EPS, float(np.finfo(y.dtype).eps)) if y.dtype.kind == "f" else _EPS


def default_step(eps: float) -> float:
    """The relative base step for an ``f`` rounding to ``eps``: :data:`HESSIAN_STEP` for float64."""
    return HESSIAN_STEP if eps == _EPS else float(eps ** (1 / 6) * RATIO**2)


def _letters(n: int, start: int = 0) -> str:
    return "".join("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[start:start + n])


def numerical_hessian(f, *args, argnums=None, step: float | None = None, names=None,
                      budget: int | None = None) -> NumericalHessian:
    """Hessian blocks of ``f(*args)`` by second differences with Richardson extrapolation, in float64.

    One block per pair of differentiated arguments: ``H["x", "y"]`` has shape
    ``f(*args).shape + x.shape + y.shape`` (the layout of ``jax.hessian`` and
    :func:`tensorjac.hessian`), ``H["y", "x"]`` is its transpose, and ``H.matrix()``
    assembles a scalar output's symmetric matrix.  The arguments are converted to float64
    before ``f`` sees them, whatever their dtype.  Each entry gets its own steps, starting at
    ``step * max(|x_i|, 1)`` along each of its coordinates and shrinking until the differences
    behave as Richardson extrapolation assumes (see :mod:`tensorjac._numerical_second`);
    ``.errors`` estimates the absolute error of every entry, ``.steps`` records the relative
    step used.  **The blocks are exactly symmetric**: each unordered pair of entries is
    computed once by a formula symmetric in the two and written at both places.

    Cost: ``f`` is called once at the point, 12 times per input entry to measure its rounding
    noise (see :func:`_measured_noise`), and about 8 times per diagonal entry and 16 times per
    unordered pair of entries for a smooth ``f`` (2 resp. 4 more per step where the step must
    shrink): ``~8 n**2`` calls for ``n`` entries in all.

    Args:
        f: a function of numpy arrays returning a real array or number.
        *args: the point (arrays, numbers or nested lists; booleans and integers are promoted).
        argnums: positions or names of the arguments to differentiate (default: all).
        step: relative base step (default :data:`HESSIAN_STEP` ~ 0.018; for an ``f`` returning
            float32, float32's ``eps ** (1/6) * e**2`` ~ 0.52).
        names: block names (default: ``f``'s parameter names, else ``x0, x1, ...``).
        budget: bytes allowed for the blocks, their error estimates and steps together
            (default: the dense budget, ``tensorjac.get_dense_budget()``).

    Returns:
        :class:`NumericalHessian` (a :class:`~tensorjac.HessianBlocks`) with ``.value``,
        ``.errors`` and ``.steps`` (dicts over ordered pairs of names).

    Raises:
        ValueError: ``f`` not callable, no arguments, a bad ``step``, ``names``, ``argnums`` or
            ``budget``; non-finite arguments; ``f`` not finite at the point; ``f``'s output shape
            changing between probes; :class:`~tensorjac.numerical.FiniteDifferenceError` (a
            ``ValueError``) naming the entry where ``f`` is not finite nearby even with small
            steps, jumps or has a kink, or its differences do not converge.
        TypeError: an argument that is not real numbers; ``f`` returning ``None``, complex
            numbers, objects or strings.
        MemoryError: the blocks and their error estimates would exceed the budget (raised
            before ``f`` is probed).

    >>> import numpy as np, tensorjac as tj
    >>> H = tj.numerical_hessian(lambda x, y: np.sum(x**2 * y), np.array([1.0, 2.0]), np.array(3.0))
    >>> np.round(H["x", "x"].dense(), 8) + 0.0, np.round(H["x", "y"].dense(), 8)   # (+ 0.0: no -0.)
    (array([[6., 0.],
           [0., 6.]]), array([2., 4.]))
    >>> M, ranges = H.matrix()                                  # the whole symmetric matrix
    >>> M.shape, ranges["y"], bool(np.all(M == M.T))
    ((3, 3), slice(2, 3, None), True)
    >>> bool(np.all(H.errors["x", "x"] < 1e-7)), H.errors["y", "x"].shape
    (True, (2,))
    >>> H = tj.numerical_hessian(np.sin, np.array(1e5))      # steps far below the relative 1800
    >>> bool(abs(H["x", "x"].dense() + np.sin(1e5)) < 1e-7)
    True
    """
    if not callable(f):
        raise ValueError(f"numerical_hessian needs a callable f, got {type(f).__name__}")
    if not args:
        raise ValueError("numerical_hessian needs at least one argument")
    base = None if step is None else check_step(step)
    names = arg_names(f, len(args)) if names is None else check_names(names, len(args))
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0):
        raise ValueError(f"budget must be a non-negative number of bytes or None, got {budget!r}")
    point = [_as_point(a, n) for a, n in zip(args, names)]
    positions = select_args(argnums, names, "the function")
    try:
        y = f(*point)
    except Exception as exc:
        _note(exc, "(raised by f at the point given to numerical_hessian)")
        raise
    y = real_output(y, "at the point")
    eps = output_eps(y)
    value = np.array(y, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0]) if value.ndim else ()
        raise ValueError(f"f(*args) is not finite at the point (first at output index {bad}); "
                         "second derivatives are only defined where f is finite")
    if base is None:
        base = default_step(eps)
    _check_budget(point, positions, names, value.shape, budget)

    order = positions
    pairs = [(p, q) for k, p in enumerate(order) for q in order[k:]]
    found = hessian_pairs(f, point, names, value, pairs, base, eps)
    blocks, errors, steps = {}, {}, {}
    nd_out = value.ndim
    for (p, q), (H, E, st) in found.items():
        nx, ny = point[p].ndim, point[q].ndim
        spec = f"{_letters(H.ndim)}->{_letters(nd_out)}|{_letters(nx, nd_out)}|{_letters(ny, nd_out + nx)}"
        key = (names[p], names[q])
        blocks[key] = second_structured(spec, H, dtype=np.float64, symmetric=p == q)
        errors[key], steps[key] = E, st
        if p != q:
            perm = tuple(range(nd_out)) + tuple(range(nd_out + nx, nd_out + nx + ny)) + tuple(range(nd_out, nd_out + nx))
            errors[key[::-1]] = E.transpose(perm)
            steps[key[::-1]] = st.transpose(tuple(range(nx, nx + ny)) + tuple(range(nx)))
    return NumericalHessian([names[p] for p in order], blocks, value.shape, value, errors, steps)
