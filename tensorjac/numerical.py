"""Finite-difference Jacobians: the reference every rule is checked against.

For every input entry ``x_j`` (one column of a block), central differences
``d(s) = (f(x + s e_j) - f(x - s e_j)) / (2 s)`` are taken at the steps ``h, h/r, h/r**2, ...``
from ``h = step * max(|x_j|, 1)``, with ``r = e`` (irrational: with ``r = 2`` a periodic ``f``
often aliases a whole window into a smooth-looking, wrong one); each step is rounded so that
``x_j +- s`` are exact floats centred on ``x_j``.  Richardson extrapolation of neighbours,
``d(s/r) + (d(s/r) - d(s)) / (r**2 - 1)``, cancels the ``s**2`` term.  A *window* of four
differences is accepted only when it behaves as the extrapolation assumes: from one step to the
next, the differences of the ``d``'s and the even part ``(f(x+s) + f(x-s))/2 - f(x)`` shrink by
a factor in :data:`RATIO_RANGE` (``r**2`` to ``r**6``) or are rounding noise, and the finest
extrapolation agrees with the middle one to within the latter's claimed error.  Otherwise the
step is beyond the scale on which ``f`` varies (``sin`` at ``1e5``: period ``2 pi``, relative
step 74) and the window slides one step down.  The value is the middle extrapolation; its error
estimate is its larger distance to the two others (about 50 times the truncation error where
truncation dominates, the real noise where ``f`` is noisier than modelled) plus the rounding of
``f`` (``2 eps |f| / s`` in ``f``'s output precision, plus the underflow granularity).  While
truncation dominates, the window keeps sliding as long as the estimate improves.

Probes where ``f`` is not finite (a pole, a domain edge, overflow) restart the sequence at a
tenfold smaller step.  A window dominated by noise from the start (a kink at ``x_j``) gives its
value with the spread of its extrapolations as error; a jump of ``f`` at ``x_j``, or steps that
reach the resolution of ``x_j`` without converging (``sin`` at ``1e15``), raise
:class:`FiniteDifferenceError`.  An entry ``0 < |x_j| < 1/16`` that the absolute step does not
resolve (error above :data:`RESOLVED` of the value while ``f`` varies) is also tried at the
relative step ``step * |x_j|``, each derivative taking the better estimate: ``x**2`` at
``1e-150`` gets ``2e-150`` to 12 digits rather than ``0 +- 1e-18``.
"""

from __future__ import annotations

import inspect
import math
from numbers import Real

import numpy as np

from . import _budget
from ._jacobian import from_owned_dense
from ._validation import as_float_array, check_finite, select_args
from .blocks import Blocks

__all__ = ["numerical_jacobian", "NumericalBlocks", "FiniteDifferenceError", "DEFAULT_STEP", "arg_names"]

_EPS = float(np.finfo(np.float64).eps)
_ETA = float(np.finfo(np.float64).smallest_subnormal)  # absolute rounding of any value (underflow)
_TINY = float(np.finfo(np.float64).tiny)
#: Relative base step for a float64 ``f``.  Richardson extrapolation of central differences has
#: truncation error O(h^4) and rounding error O(eps/h); they balance near h = eps**(1/5) ~ 7e-4.
#: (For an ``f`` returning float32 the default is float32's eps**(1/5) ~ 0.041.)
DEFAULT_STEP = float(_EPS ** 0.2)
#: Differences in a window; at most this many in one sequence of steps.
WINDOW, MAX_DIFFERENCES = 4, 64
#: Tenfold step reductions tried when ``f`` is not finite at a probe.
NONFINITE_RETRIES = 5
#: A difference of differences below ``QUIET`` times the modelled rounding noise counts as noise.
QUIET = 100.0
#: Ratio of successive steps: irrational, so that no step is a rational multiple of another and a
#: periodic ``f`` cannot alias all four differences of a window at once (with 2, it often does).
RATIO = math.e
#: Accepted ratios of successive differences ``(d(s) - d(s/r)) / (d(s/r) - d(s/r**2))`` (and of
#: the even parts): ``r**2`` where the ``s**2`` term dominates, ``r**4``/``r**6`` where it vanishes.
RATIO_RANGE = (0.6 * RATIO**2, 1.5 * RATIO**6)
#: An entry whose error estimate exceeds ``RESOLVED`` times its value is "not resolved".
RESOLVED = 1e-8
#: ``vectorized=True`` stacks at most about this many bytes of probe points and outputs per call.
BATCH_BYTES = 1 << 26


class FiniteDifferenceError(ValueError):
    """Finite differences failed for one input entry (``name``, ``index``); ``str`` says why."""

    def __init__(self, template: str, name: str, index: tuple):
        self.template, self.name, self.index = template, name, index
        super().__init__(self.message(name, index))

    def message(self, name, index) -> str:
        return self.template.format(name=repr(name), index=index)


class NumericalBlocks(Blocks):
    """:class:`Blocks` of finite-difference Jacobians, with what produced them.

    Attributes:
        value: ``f(*args)`` in float64.
        errors: per block, an estimate of the absolute error of every entry (same shape).
        steps: per block, the step of every input entry (shape of the argument): the largest
            step of the window used (the relative step where a small entry was refined).
    """

    def __init__(self, blocks, value, errors, steps):
        super().__init__(blocks)
        self.value, self.errors, self.steps = value, errors, steps


def arg_names(f, n: int) -> tuple[str, ...]:
    """``f``'s first ``n`` positional parameter names, else ``("x0", "x1", ...)``."""
    try:
        params = [
            p.name for p in inspect.signature(f).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):  # builtins and ufuncs may have no signature
        params = []
    return tuple(params[:n]) if len(params) >= n else tuple(f"x{i}" for i in range(n))


# ---- Checking what comes in and what f returns ----------------------------------------------


def check_step(step, what="step") -> float:
    """``step`` as a positive finite float, else ``ValueError`` naming it."""
    ok = isinstance(step, Real) and not isinstance(step, bool) and math.isfinite(step) and step > 0
    if not ok:
        raise ValueError(f"{what} must be a positive finite number, got {step!r}")
    return float(step)


def check_names(names, n: int) -> tuple[str, ...]:
    """``names`` as a tuple of ``n`` distinct non-empty strings, else ``ValueError`` naming them."""
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise ValueError(f"names must be a sequence of {n} distinct strings (one per argument), got {names!r}")
    names = tuple(names)
    if len(names) != n or len(set(names)) != n or not all(isinstance(s, str) and s for s in names):
        raise ValueError(f"names must give {n} distinct names (non-empty strings, one per argument), got {names!r}")
    return names


def real_output(out, where: str) -> np.ndarray:
    """``f``'s result as a numpy array of real numbers, else ``TypeError`` naming what it was.

    Floats of any precision, integers and booleans are accepted (they are converted to float64
    by the caller); ``None``, complex numbers, objects and strings are not: tensorjac's
    Jacobians are real.
    """
    if out is None:
        raise TypeError(f"f returned None {where}; it must return a real array or number (a missing `return`?)")
    try:
        arr = np.asarray(out)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise TypeError(f"f returned a {type(out).__name__} that is not a rectangular array {where}: {exc}") from exc
    if arr.dtype.kind == "c":
        raise TypeError(
            f"f returned complex values (dtype {arr.dtype}) {where}; tensorjac's Jacobians are real: "
            "return np.real(...) (or the real and imaginary parts stacked along an axis) instead"
        )
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"f returned a {type(out).__name__} of dtype {arr.dtype} {where}; it must return real numbers "
            "(a float, int or bool array or number)"
        )
    return arr


def _note(exc: BaseException, text: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(text)


# ---- One input entry: a sequence of central differences at shrinking steps -------------------


class _Sequence:
    """The central differences of one input entry at steps ``h, h/r, h/r**2, ...`` and their verdict.

    ``requests()`` gives the probe offsets still needed, ``feed(values)`` takes ``f`` there.
    When ``done``, ``result`` is ``(derivative, error, step)`` (vectors over the outputs and
    the first step of the window used), or ``None``: ``f`` stayed non-finite (``failed_step``
    is the last step tried) or no window converged before the steps reached the resolution of
    ``x`` (``unresolved``).
    """

    def __init__(self, orig: float, h: float, eps: float, value: np.ndarray, retries: int = NONFINITE_RETRIES):
        self.orig, self.h, self.eps, self.value, self.retries = orig, h, eps, value, retries
        self.floor = 64 * float(np.spacing(abs(orig)))  # below, the steps are too coarsely quantised
        self.window = []  # (step, d, S, dev, even) of the last WINDOW differences
        self.count = 0  # differences in this sequence
        self.best = None  # (r, e, trunc, rounding, step, dev) of the best accepted window
        self.guess = None  # (r, e, step, dev) with the smallest error among rejected windows
        self.low = self.high = None  # range of the extrapolations of rejected windows
        self.done, self.result, self.failed_step, self.unresolved, self.jump = False, None, None, False, False

    def requests(self) -> list[float]:
        """Offsets ``+-s`` of the next steps, each rounded so that ``x +- s`` are exact (midpoint ``x``)."""
        steps = [(self.orig + self.h / RATIO**i) - self.orig for i in range(self.count, max(self.count + 1, WINDOW))]
        return [o for s in steps for o in (s, -s)]

    def feed(self, values: np.ndarray) -> None:
        all_finite = bool(np.isfinite(values).all())
        for i, s in enumerate(self.requests()[::2]):
            up, down = values[2 * i], values[2 * i + 1]
            # Divide by the distance between the probes as stored (exactly 2s unless |x| << s).
            d = (up - down) / ((self.orig + s) - (self.orig - s))
            if not (np.isfinite(d).all() and (all_finite or np.isfinite(up).all() and np.isfinite(down).all())):
                self._restart(s)
                return
            S = np.maximum(np.abs(up), np.abs(down))
            dev = np.maximum(np.abs(up - self.value), np.abs(down - self.value))
            even = (up + down) / 2 - self.value  # f'' s**2 / 2 + O(s**4) where the step is small enough
            self.window = (self.window + [(s, d, S, dev, even)])[-WINDOW:]
            self.count += 1
        if len(self.window) == WINDOW:
            self._judge()
        if not self.done and (self.count >= MAX_DIFFERENCES or self.h / RATIO**self.count < self.floor):
            self._finish(converged=False)

    def _restart(self, s: float) -> None:
        """A probe at step ``s`` is not finite: keep what was accepted, else start again at ``s / 10``."""
        if self.best is not None:
            self._finish()
        elif self.retries == 0 or s / 10 < self.floor:
            self.done, self.failed_step = True, s
        else:
            self.retries -= 1
            self.h, self.window, self.count = s / 10, [], 0
            self.guess = self.low = self.high = None

    def _judge(self) -> None:
        (s0, d0, S0, _, e0), (s1, d1, S1, dev1, e1), (s2, d2, S2, dev2, e2), (s3, d3, S3, _, e3) = self.window
        eps = self.eps
        nu = [(eps * S + _ETA) / s for s, S in ((s0, S0), (s1, S1), (s2, S2), (s3, S3))]  # rounding noise of each d
        # Both the odd part (the differences of the d's) and the even part of f around x must
        # shrink like s**2 (or faster) from one step to the next, unless they are mere noise.
        regular = _regular((d0 - d1, d1 - d2, d2 - d3), [QUIET * (nu[k] + nu[k + 1]) for k in range(3)])
        noise_even = [QUIET * (eps * (S + np.abs(self.value)) + _ETA) for S in (S0, S1, S2, S3)]
        regular = regular & _regular((e0, e1, e2, e3), noise_even)
        ra, rb, rc = _extrapolate(d0, d1, s0, s1), _extrapolate(d1, d2, s1, s2), _extrapolate(d2, d3, s2, s3)
        # |rb - ra| is about 50 times the truncation error of rb where truncation dominates; where
        # noise dominates, |rc - rb| shows how noisy f really is (more than the model below when f
        # is ill-conditioned: sin(1/x) rounds 1/x first).
        trunc = np.maximum(np.abs(rb - ra), np.abs(rc - rb))
        scale = np.maximum(np.maximum(S0, S1), S2)
        rounding = 2 * (eps * scale + _ETA) / s2 + eps * np.abs(rb)
        error = trunc + rounding
        consistent = np.abs(rc - rb) <= np.abs(rb - ra) + QUIET * (nu[2] + nu[3])
        dev = np.maximum(dev1, dev2)
        worst = float(np.max(error, initial=0.0))
        if np.all(regular & consistent):
            if self.best is not None and worst >= float(np.max(self.best[1], initial=0.0)):
                self._finish()  # a smaller step no longer helps
                return
            self.best = (rb, error, trunc, rounding, s0, dev)
            if float(np.max(trunc, initial=0.0)) <= float(np.max(rounding, initial=0.0)):
                self._finish()  # rounding dominates: smaller steps only add noise
            return
        if self.best is not None:
            self._finish()  # accepted before, not any more: noise takes over
            return
        # d(s) = c / s growing by r per step: a jump of f at x, or a kink at a distance below s.
        growth = np.array([d1 / d0, d2 / d1, d3 / d2])
        self.jump = bool(np.any((np.abs(d3) > QUIET * nu[3]) & np.all(np.abs(growth - RATIO) < 0.1 * RATIO, axis=0)))
        self.low = rb if self.low is None else np.minimum(self.low, rb)
        self.high = rb if self.high is None else np.maximum(self.high, rb)
        if self.guess is None or worst < float(np.max(self.guess[1], initial=0.0)):
            self.guess = (rb, error, s0, dev)
        # Stop once rounding alone, at the next step, would exceed the smallest error seen for every
        # output: the differences are dominated by noise (a kink at x, or f noisier than eps |f|).
        if np.all(2 * (eps * scale + _ETA) * RATIO / s3 > self.guess[1]):
            self._finish()

    def _finish(self, converged: bool = True) -> None:
        self.done = True
        if self.best is not None:
            r, e, _, _, s, dev = self.best
            self.result, self.dev = (r, e, s), dev
        elif self.guess is not None and converged and not self.jump:
            # Noise-limited: the estimate with the smallest claimed error, its error widened to
            # cover every extrapolation seen.
            r, e, s, dev = self.guess
            self.result, self.dev = (r, e + np.maximum(self.high - r, r - self.low), s), dev
        else:
            self.unresolved = True
            self.failed_step = self.h / RATIO ** max(self.count - 1, 0)


def _extrapolate(d_coarse, d_fine, s_coarse, s_fine):
    """Richardson extrapolation of two central differences: cancels the ``s**2`` term."""
    return d_fine + (d_fine - d_coarse) / ((s_coarse / s_fine) ** 2 - 1)


def _regular(seq, noise) -> np.ndarray:
    """Where ``seq[k] / seq[k+1]`` lies in ``RATIO_RANGE`` for every k, or ``seq[k+1]`` is below ``noise[k+1]``.

    (Called under ``np.errstate(all="ignore")``: a ratio 0/0 is nan, which fails the range.)
    """
    seq, noise = np.asarray(seq), np.asarray(noise)
    ratio = seq[:-1] / seq[1:]
    ok = (np.abs(seq[1:]) <= noise[1:]) | ((ratio >= RATIO_RANGE[0]) & (ratio <= RATIO_RANGE[1]))
    return ok.all(axis=0)


# ---- Evaluating f at probe points, one by one or in batches ---------------------------------


class _Evaluator:
    """Calls ``f`` at ``x + offset * e_j`` for the argument at ``pos``, validating what it returns."""

    def __init__(self, f, point, names, value, vectorized):
        self.f, self.point, self.names, self.value = f, point, names, value
        self.batch = None
        if vectorized:
            per_row = 8 * (sum(a.size for a in point) + max(value.size, 1))
            self.batch = vectorized if vectorized is not True else max(1, BATCH_BYTES // per_row)

    def __call__(self, pos: int, requests: list) -> np.ndarray:
        """``f`` at each ``(j, orig, offset)`` of ``requests`` as rows ``(len(requests), value.size)``."""
        if self.batch is None:
            return self._one_by_one(pos, requests)
        out = np.empty((len(requests), self.value.size))
        for start in range(0, len(requests), self.batch):
            out[start:start + self.batch] = self._batched(pos, requests[start:start + self.batch])
        return out

    def _where(self, pos, j, offset) -> str:
        index = tuple(int(i) for i in np.unravel_index(j, self.point[pos].shape))
        return f"at {self.names[pos]}[{', '.join(map(str, index))}] {'+' if offset > 0 else '-'} {abs(offset):g}"

    def _one_by_one(self, pos, requests) -> np.ndarray:
        x = self.point[pos].reshape(-1)  # a view (point is C-contiguous): perturbing it perturbs the argument f sees
        out = np.empty((len(requests), self.value.size))
        for r, (j, orig, offset) in enumerate(requests):
            x[j] = orig + offset
            try:
                y = self.f(*self.point)
            except Exception as exc:
                _note(exc, f"(raised by f {self._where(pos, j, offset)}, a finite-difference probe)")
                raise
            finally:
                x[j] = orig
            out[r] = self._checked(y, self.value.shape, lambda: self._where(pos, j, offset)).reshape(-1)
        return out

    def _batched(self, pos, requests) -> np.ndarray:
        k = len(requests) + 1  # row 0: the point itself, to check the batch convention
        stacked = [np.broadcast_to(a, (k,) + a.shape) for a in self.point]
        X = np.array(stacked[pos])
        flat = X.reshape(k, -1)
        for r, (j, orig, offset) in enumerate(requests, start=1):
            flat[r, j] = orig + offset
        stacked[pos] = X
        y = self._call_batch(stacked, k)
        rows = self._checked(y, (k,) + self.value.shape, lambda: f"for a batch of {k} points").reshape(k, -1)
        gap = float(np.max(np.abs(rows[0] - self.value.reshape(-1)), initial=0.0))
        if not gap <= 1e-9 * float(np.max(np.abs(self.value), initial=0.0)) + _TINY:
            raise ValueError(
                f"vectorized=True: row 0 of f's result for a batch of {k} points (the unperturbed point) "
                f"differs from f at the point by up to {gap:.3g}; with vectorized=True f must treat the "
                "leading axis of every argument as a batch axis (row r of the result is f at row r of every "
                "argument), e.g. write x[..., None] * y for a batched scalar x and vector y"
            )
        return rows[1:]

    def _call_batch(self, stacked, k):
        try:
            return self.f(*stacked)
        except Exception as exc:
            shapes = ", ".join(str(a.shape) for a in stacked)
            _note(exc, f"(raised by f called with vectorized=True on a batch of {k} points: arguments of shapes {shapes})")
            raise

    @staticmethod
    def _checked(y, shape, where) -> np.ndarray:
        """``y`` checked to be real and of ``shape``, in float64 (``where()`` words the place, for errors)."""
        if isinstance(y, np.ndarray) and y.dtype.kind in "fiub" and y.shape == shape:
            return y.astype(np.float64, copy=False)
        arr = real_output(y, where())
        if arr.shape != shape:
            raise ValueError(f"f returned shape {arr.shape} {where()}, expected {shape} (from f's shape at the point)")
        return arr.astype(np.float64, copy=False)


# ---- The driver -------------------------------------------------------------------------------


def _drive(evaluate, pos: int, sequences: dict) -> None:
    """Feed every sequence ``{j: _Sequence}`` with ``f`` at its probes until all are done.

    Each round gathers the probes every unfinished sequence needs and evaluates them in one go
    (one call of ``f`` per probe, or batches of probes), so both paths see the same numbers.
    """
    active = [(j, s) for j, s in sequences.items() if not s.done]
    while active:
        requests, spans = [], []
        for j, s in active:
            offsets = s.requests()
            spans.append((s, len(requests), len(offsets)))
            requests.extend((j, s.orig, o) for o in offsets)
        values = evaluate(pos, requests)
        for s, start, n in spans:
            s.feed(values[start:start + n])
        active = [(j, s) for j, s in active if not s.done]


def _columns(evaluate, pos: int, x: np.ndarray, js, base: float, eps: float, value: np.ndarray, name: str):
    """Derivative columns ``(n_out, len(js))``, their error estimates and the steps of input entries ``js``."""
    value = value.reshape(-1)
    seqs = {j: _Sequence(float(x[j]), base * max(abs(float(x[j])), 1.0), eps, value) for j in js}
    _drive(evaluate, pos, seqs)
    for j, s in seqs.items():
        if s.result is None:
            index = tuple(int(i) for i in np.unravel_index(j, x.shape))
            if s.jump:
                raise FiniteDifferenceError(
                    "f jumps at argument {name} index {index} "
                    f"(x = {s.orig:g}): its central differences grow like 1 / step (down to step "
                    f"{s.failed_step:.3g}), so f is discontinuous there and has no derivative", name, index,
                )
            if s.unresolved:
                raise FiniteDifferenceError(
                    "the finite differences of f do not converge for argument {name} at index {index} "
                    f"(x = {s.orig:g}) down to step {s.failed_step:.3g}, the resolution of x there: f varies "
                    "faster than float64 can probe at this point (a large argument of a periodic function?) or "
                    "is not differentiable there", name, index,
                )
            raise FiniteDifferenceError(
                "f is not finite near argument {name} at index {index} even with step "
                f"{s.failed_step:g}; is the point on the edge of f's domain?", name, index,
            )
    # Small entries: the absolute step may not resolve a derivative that varies on the scale of |x_j|.
    refine = {}
    for j, s in seqs.items():
        r, e, h = s.result
        h_rel = base * abs(s.orig)
        if s.orig != 0 and _TINY <= h_rel <= h / 16:
            varies = s.dev > QUIET * eps * (np.abs(value) + s.dev) + _ETA
            if np.any(varies & (e > RESOLVED * np.abs(r))):
                refine[j] = _Sequence(s.orig, h_rel, eps, value, retries=0)
    _drive(evaluate, pos, refine)
    J = np.empty((value.size, len(js)))
    E, steps = np.empty_like(J), np.empty(len(js))
    for c, j in enumerate(js):
        r, e, h = seqs[j].result
        fine = refine.get(j)
        if fine is not None and fine.result is not None:
            # a converged window beats a noise-limited one (x lost in x +- h: |x| at 1e-30); else the smaller error
            take = fine.best is not None if (fine.best is None) != (seqs[j].best is None) else fine.result[1] < e
            r, e = np.where(take, fine.result[0], r), np.where(take, fine.result[1], e)
            h = fine.result[2] if np.any(take) else h
        J[:, c], E[:, c], steps[c] = r, e, h
    return J, E, steps


def _as_point(a, name: str) -> np.ndarray:
    """A C-contiguous float64 copy of an argument (so that reshape(-1) is a view of what f sees)."""
    try:
        arr = as_float_array(a, f"argument {name!r}")
    except ValueError as exc:  # np.asarray of a ragged nested list
        raise TypeError(f"argument {name!r} is not a rectangular array of numbers: {exc}") from exc
    return np.array(check_finite(arr, f"argument {name!r}"), dtype=np.float64, order="C")


def _check_options(vectorized, budget):
    """``vectorized`` as False/True/int, and ``budget`` checked, else ``ValueError`` naming them."""
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0):
        raise ValueError(f"budget must be a non-negative number of bytes or None, got {budget!r}")
    if isinstance(vectorized, (bool, np.bool_)):
        return bool(vectorized)
    if isinstance(vectorized, (int, np.integer)) and vectorized >= 1:
        return int(vectorized)
    raise ValueError(f"vectorized must be False, True or a positive int (probe points per call), got {vectorized!r}")


def _check_budget(point, positions, names, out_shape, budget) -> None:
    """Refuse, before any probing, blocks (with their error estimates) that would not fit the dense budget."""
    shapes = [out_shape + point[p].shape for p in positions]
    entries = 2 * sum(math.prod(s) for s in shapes)
    if not _budget.fits(entries, 8, budget):
        limit = _budget.get_dense_budget() if budget is None else int(budget)
        blocks = ", ".join(f"{names[p]!r}: {s}" for p, s in zip(positions, shapes))
        raise MemoryError(
            f"numerical_jacobian would build dense float64 blocks of shapes {{{blocks}}}, each with an error "
            f"estimate of the same shape: {entries * 8:,} bytes ({entries * 8 / 2**30:.3g} GiB), over the dense "
            f"budget of {limit:,} bytes. Select fewer arguments (argnums=...), differentiate a smaller problem, "
            "or raise the budget (budget=nbytes, or tensorjac.set_dense_budget(nbytes)); to check a rule on "
            "large inputs use tensorjac.testing's mode='dot', which never builds the Jacobian."
        )


def numerical_jacobian(f, *args, argnums=None, step: float | None = None, names=None, vectorized=False,
                       budget: int | None = None) -> NumericalBlocks:
    """Jacobian blocks of ``f(*args)`` by central differences with Richardson extrapolation.

    Every argument may be a tensor of any shape; block ``i`` has shape
    ``f(*args).shape + args[i].shape`` (the layout of the analytic rules).  The arguments are
    converted to float64 before ``f`` sees them, whatever their dtype.  Each input entry
    ``x_j`` gets its own steps, starting at ``h_j = step * max(|x_j|, 1)`` and shrinking until
    the differences behave as Richardson extrapolation assumes (see the module docstring);
    ``.errors`` estimates the error of every entry and ``.steps`` records the step used.
    ``f`` is called once at the point and 8 times per input entry for a smooth ``f`` (2 more
    per step where the step must shrink: a pole, a kink, a large argument of a periodic ``f``).

    With ``vectorized=True``, ``f`` is called on batches of points (as
    ``scipy.differentiate.jacobian`` does, but with a *leading* batch axis): every argument gets
    a leading axis of the same length ``k`` (those not perturbed are read-only broadcast views)
    and ``f`` must return shape ``(k,) + out_shape``, row ``r`` being ``f`` at row ``r`` of every
    argument (as ``jax.vmap(f)`` would).  Elementwise numpy code and ``@`` qualify as they are;
    a batched scalar ``x`` (shape ``(k,)``) times a vector ``y`` (``(k, n)``) is ``x[:, None] * y``.
    The value is computed with ``k = 1``, and row 0 of every batch is the unperturbed point,
    which must match it (``ValueError`` otherwise: it catches batch axes mixed by broadcasting).
    All entries of an argument are probed together: two calls for a smooth ``f``, one more per
    further step any entry needs; ``vectorized=k`` caps a batch at ``k`` points (else about
    ``BATCH_BYTES``).  Both paths compute the same differences: for an ``f`` whose rows equal
    the unbatched ``f`` bit for bit, identical Jacobians, errors and steps.

    Args:
        f: a function of numpy arrays returning a real array or number (floats, ints, bools).
        *args: the point (arrays, numbers or nested lists; booleans and integers are promoted).
        argnums: positions or names of the arguments to differentiate (default: all).
        step: relative base step (default ``DEFAULT_STEP`` ~ 7.4e-4; for an ``f`` returning
            float32, float32's ``eps ** 0.2`` ~ 0.041).
        names: block names (default: ``f``'s parameter names, else ``x0, x1, ...``).
        vectorized: ``False`` (one call per probe point), ``True`` or a positive int (batches).
        budget: bytes allowed for the blocks and their error estimates together (default: the
            dense budget, ``tensorjac.get_dense_budget()``).

    Returns:
        :class:`NumericalBlocks` with ``.value``, ``.errors`` and ``.steps``.

    Raises:
        ValueError: ``f`` not callable, no arguments, a bad ``step``, ``names``, ``argnums``,
            ``vectorized`` or ``budget``; non-finite arguments; ``f`` not finite at the point;
            ``f``'s output shape changing between probes; a batch convention broken with
            ``vectorized=True``; :class:`FiniteDifferenceError` (a ``ValueError``) where ``f`` is
            not finite near the point even with small steps, or its differences do not converge
            down to the resolution of ``x``.
        TypeError: an argument that is not real numbers; ``f`` returning ``None``, complex
            numbers, objects or strings.
        MemoryError: the blocks and their error estimates would exceed the budget (raised
            before ``f`` is probed).

    >>> import numpy as np, tensorjac as tj
    >>> J = tj.numerical_jacobian(lambda x, y: x * y, np.array([1.0, 2.0]), np.array(3.0))
    >>> np.round(J["x"].dense(), 8), np.round(J["y"].dense(), 8)
    (array([[3., 0.],
           [0., 3.]]), array([1., 2.]))
    >>> J = tj.numerical_jacobian(np.sin, np.array([1e5, 1e7]))   # steps far below the relative 74 and 7400
    >>> bool(np.allclose(np.diag(J["x"].dense()), np.cos([1e5, 1e7]), rtol=1e-9, atol=0))
    True
    >>> V = tj.numerical_jacobian(lambda x, y: x[..., None] * y, np.array(2.0), np.ones(3), vectorized=True)
    >>> np.round(V["x"].dense(), 8)
    array([1., 1., 1.])
    """
    if not callable(f):
        raise ValueError(f"numerical_jacobian needs a callable, got {type(f).__name__}")
    if not args:
        raise ValueError("numerical_jacobian needs at least one argument")
    base = None if step is None else check_step(step)
    names = arg_names(f, len(args)) if names is None else check_names(names, len(args))
    vectorized = _check_options(vectorized, budget)
    point = [_as_point(a, n) for a, n in zip(args, names)]
    positions = select_args(argnums, names, "the function")

    try:
        y = f(*[np.broadcast_to(a, (1,) + a.shape) for a in point]) if vectorized else f(*point)
    except Exception as exc:
        _note(exc, "(raised by f at the point given to numerical_jacobian)")
        raise
    if vectorized:
        y = real_output(y, "for a batch of 1 point")
        if y.shape[:1] != (1,):
            raise ValueError(
                f"vectorized=True: called with a batch of 1 point (arguments of shapes "
                f"{[(1,) + a.shape for a in point]}), f returned shape {y.shape}; it must return a "
                "leading batch axis, of shape (k,) + out_shape for k points"
            )
        y = y[0]
    else:
        y = real_output(y, "at the point")
    eps = max(_EPS, float(np.finfo(y.dtype).eps)) if y.dtype.kind == "f" else _EPS  # of f's own rounding
    value = check_finite(np.array(y, dtype=np.float64), "f(*args)")
    if base is None:
        base = DEFAULT_STEP if eps == _EPS else eps ** 0.2
    _check_budget(point, positions, names, value.shape, budget)

    evaluate = _Evaluator(f, point, names, value, vectorized)
    chunk = 1 if not vectorized else max(1, BATCH_BYTES // (80 * max(value.size, 1)))
    blocks, errors, steps = {}, {}, {}
    for pos in positions:
        x = point[pos].reshape(-1)
        jac, err, hs = np.empty((value.size, x.size)), np.empty((value.size, x.size)), np.empty(x.size)
        # Probing may cross a domain edge or overflow; non-finite values are handled by the sequences.
        with np.errstate(all="ignore"):
            for start in range(0, x.size, chunk):
                js = range(start, min(start + chunk, x.size))
                cols = slice(start, start + len(js))
                jac[:, cols], err[:, cols], hs[cols] = _columns(
                    evaluate, pos, x, js, base, eps, value, names[pos]
                )
        in_shape = point[pos].shape
        shape = value.shape + in_shape
        blocks[names[pos]] = from_owned_dense(jac.reshape(shape), value.shape, in_shape, np.dtype(np.float64))
        errors[names[pos]] = err.reshape(shape)
        steps[names[pos]] = hs.reshape(in_shape)
    return NumericalBlocks(blocks, value, errors, steps)
