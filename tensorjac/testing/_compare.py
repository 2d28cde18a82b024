"""The error model and the comparisons: tolerances, ratios, the worst entry, step retries.

See the docstring of :mod:`tensorjac.testing` for the error model in words.  Magnitudes are
kept in units of float64's epsilon (``mag = eps_64 * M``), so that values near the largest
float (``exp(709.7)``) give finite tolerances instead of ``inf``.
"""

from __future__ import annotations

import math

import numpy as np

from ._report import ArgumentReport, index_text

__all__ = ["ROUNDING_FACTOR", "REFERENCE_SAFETY", "RETRY_FACTORS", "FLOOR_FACTOR", "FORMULA_SIGMAS", "Result"]

#: Multiplies ``eps * magnitude`` in the rounding part of the tolerance: a few roundings per
#: value, with a safety margin.  A float32 rule is then allowed ~2e-6 relative error per entry
#: in full mode; a scale error of 1e-3 or a computation in float16 (~5e-4) is far outside.  In
#: dot mode the magnitude sums over the contraction (see :mod:`tensorjac.testing`).
ROUNDING_FACTOR = 16.0
#: Multiplies the reference's error estimate (``NumericalBlocks.errors``), an estimate and not a bound.
REFERENCE_SAFETY = 4.0
#: Relative steps (times ``step``) at which finite differences are redone before an entry fails.
RETRY_FACTORS = (10.0, 0.1, 0.01)
#: Weight of the block-wide floor ``FLOOR_FACTOR * eps_rule * max(M)`` of the tolerance.
FLOOR_FACTOR = 4.0
#: Standard deviations allowed, in dot mode, for a float32 rule's formula deviating from the exact
#: one by float32 rounding of its constants: ``<u, J v>`` of its float64 run may differ from the
#: reference by ``FORMULA_SIGMAS * ROUNDING_FACTOR * eps_32 * ||terms||_2`` (a sum of the terms'
#: relative errors with random signs), besides float64 rounding.
FORMULA_SIGMAS = 6.0

_EPS64 = float(np.finfo(np.float64).eps)
REPRESENTATION = 4 * _EPS64  # rounding of the perturbed inputs, relative to |x| / step
_TINY = float(np.finfo(np.float64).tiny)


def _factor(eps_rule):
    """``ROUNDING_FACTOR * (eps_rule + eps_64)`` per unit of ``mag = eps_64 * M``."""
    return ROUNDING_FACTOR * (eps_rule / _EPS64 + 1.0)


def pow2_scale(magnitude: float, limit: float) -> float:
    """The power of two ``2**-k`` (k >= 0) that brings ``magnitude`` (possibly inf) to at most ``limit``."""
    if not magnitude > limit:
        return 1.0
    k = math.ceil(math.log2(magnitude) - math.log2(limit)) if math.isfinite(magnitude) else 64
    return math.ldexp(1.0, -min(max(k, 1), 1000))


def _ratio(diff, tol):
    """``diff / tol`` (the check passes where <= 1); 0 where diff is 0, inf where diff is not finite."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = diff / np.maximum(tol, _TINY)
    r = np.where(diff == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


def _diff(rule, ref):
    d = np.abs(np.asarray(rule, dtype=np.float64) - ref)
    return np.where(np.isfinite(d), d, np.inf)


def _rel(diff, ref, mag):
    """``diff / max(|ref|, M)`` (``mag = eps_64 M``); where both are 0 (a structural zero), relative to the largest of the block."""
    den = np.maximum(np.abs(ref) * _EPS64, mag)
    scale = float(den.max()) if den.size else 0.0
    den = np.where(den > 0, den, scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = diff * _EPS64 / den
    r = np.where(diff == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


class Result:
    """Accumulates the compared values of one argument and keeps the worst."""

    def __init__(self, setup, pos, ref, mode):
        s = setup
        self.rep = ArgumentReport(
            name=s.names[pos], position=pos, shape=s.arrays[pos].shape, dtype=str(s.arrays[pos].dtype), mode=mode,
            steps_tried=() if ref.exact else (ref.steps[0],),
        )
        self.primary_failed = False
        # Values the rule gave that were nonzero, and those of them the reference could not tell
        # from zero (its own error alone exceeds both): a check that sees only such values has no power.
        self.nonzero = self.unresolved = 0
        self.unresolved_example = None

    def fail(self, problem, exception=None):
        if self.rep.problem is None:
            self.rep.problem, self.rep.exception = problem, exception
        self.rep.ok = False

    def steps_used(self, steps):
        if steps and steps[0] is not None:
            self.rep.steps_tried = tuple(sorted(set(self.rep.steps_tried) | set(steps), key=lambda x: -x))

    def add(self, rule, ref, tol, mag, out_index, in_index, step, abs_step, compared, primary=True, ref_err=None,
            words=(None, None)):
        """Add compared values (arrays of one shape); ``out_index(k)``/``in_index(k)`` locate flat entry k.

        ``mag`` is the magnitude in units of eps_64, ``ref_err`` the reference's share of the
        tolerance.  Values of a secondary comparison (the random probe of full mode) become the
        reported worst entry only if the primary one (the blocks) passed: a failing Jacobian
        entry says more than a failing contraction.
        """
        rule, ref, tol, mag = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (rule, ref, tol, mag))
        if rule.size == 0:
            return
        diff = _diff(rule, ref)
        ratio = _ratio(diff, tol)
        rel = _rel(diff, ref, mag)
        if ref_err is not None:
            ref_err = np.asarray(ref_err, dtype=np.float64).reshape(-1)
            nonzero = (rule != 0) & np.isfinite(rule)
            blind = nonzero & (np.abs(rule) <= ref_err) & (np.abs(ref) <= ref_err)
            self.nonzero += int(np.sum(nonzero))
            self.unresolved += int(np.sum(blind))
            if self.unresolved_example is None and np.any(blind):
                k = int(np.argmax(blind))
                self.unresolved_example = (float(rule[k]), float(ref[k]), float(ref_err[k]), compared(k) if callable(compared) else compared)
        rep = self.rep
        rep.entries += rule.size
        rep.max_abs_error = max(rep.max_abs_error, float(np.max(diff)))
        rep.max_rel_error = max(rep.max_rel_error, float(np.max(rel)))
        k = int(np.argmax(ratio))
        if primary and ratio[k] > 1:
            self.primary_failed = True
        if rep.rule_value is None or (ratio[k] > rep.worst_ratio and (primary or not self.primary_failed)):
            rep.worst_ratio = float(ratio[k])
            rep.out_index, rep.in_index = out_index(k), in_index(k)
            rep.rule_value, rep.reference_value, rep.tolerance = float(rule[k]), float(ref[k]), float(tol[k])
            st = step(k) if callable(step) else step
            rep.step = None if st is None else float(st)
            ab = abs_step(k) if callable(abs_step) else abs_step
            rep.abs_step = None if ab is None else float(ab)
            rep.compared = compared(k) if callable(compared) else compared
            rep.rule_words, rep.reference_words = words
        if ratio[k] > 1:
            rep.ok = False


def unravel(k, shape):
    return tuple(int(i) for i in np.unravel_index(int(k), shape)) if shape else ()


def _tolerance(J, E, R, ans_abs, eps_rule):
    """Entry tolerances and magnitudes (``eps_64 M``) of a Jacobian matrix block (rows: outputs, cols: inputs).

    The output term ``|f(x)[i]|`` of the magnitude applies where the derivative is nonzero:
    where the reference is above its own noise, or where the rule gives a nonzero value (a
    rounded cancellation such as ``s - s*s`` with s one ulp below 1 must not be blamed).
    """
    nonzero = (np.abs(J) > REFERENCE_SAFETY * E) | (np.asarray(R) != 0)
    mag = _EPS64 * np.abs(J) + nonzero * (_EPS64 * ans_abs[:, None])
    return REFERENCE_SAFETY * E + _factor(eps_rule) * mag, mag


def full_block(setup, pos, ref, R, result):
    """Compare the rule's matrix ``R`` (n_out x n_in) with the reference, retrying steps on failing columns.

    Returns the composite reference (J, E, M, tol) used, column by column.
    """
    s = setup
    n_in = s.arrays[pos].size
    ans_abs = np.abs(s.ans64).reshape(-1)
    J = np.zeros((s.n_out, n_in))
    E, M, tol = np.zeros_like(J), np.zeros_like(J), np.full_like(J, np.inf)
    col_ratio = np.full(n_in, np.inf)
    col_step = [None] * n_in
    col_h = [None] * n_in
    cols = np.arange(n_in)
    used = []
    for step in ref.steps:
        used.append(step)
        Jc, Ec, hc = ref.columns(cols, step)
        if not np.all(np.isfinite(Jc)):
            raise ValueError(
                f"check_{s.kind}: the reference Jacobian for argument {s.names[pos]!r} is not finite at the "
                "point (it overflows): the point is outside the range where the check is meaningful"
            )
        tc, Mc = _tolerance(Jc, Ec, R[:, cols], ans_abs, s.eps_rule)
        rc = _ratio(_diff(R[:, cols], Jc), tc).max(axis=0) if s.n_out else np.zeros(len(cols))
        better = (rc < col_ratio[cols]) | (len(used) == 1)
        for k in np.nonzero(better)[0]:
            c = cols[k]
            J[:, c], E[:, c], M[:, c], tol[:, c] = Jc[:, k], Ec[:, k], Mc[:, k], tc[:, k]
            col_ratio[c] = rc[k]
            col_step[c] = step
            col_h[c] = None if hc is None else hc[k]
        cols = cols[col_ratio[cols] > 1]
        if cols.size == 0:
            break
    floor = FLOOR_FACTOR * s.eps_rule / _EPS64 * (M.max() if M.size else 0.0)
    tol = tol + floor
    result.steps_used(used)
    in_shape = s.arrays[pos].shape
    return J, E, M, tol, col_step, col_h, in_shape


def report_full(setup, pos, result, R, J, E, tol, M, col_step, col_h):
    s = setup
    n_in = s.arrays[pos].size
    in_shape = s.arrays[pos].shape
    name = s.names[pos]

    def what(k):
        out, inn = index_text(unravel(k // n_in, s.out_shape)), index_text(unravel(k % n_in, in_shape))
        if s.kind == "vjp":
            return f"entry {inn} of your vjp's gradient for {name!r}, at the unit cotangent e{out}"
        if s.kind == "jvp":
            return f"entry {out} of your jvp's output, at the unit tangent e{inn} of {name!r}"
        return f"entry {out} + {inn} of your Jacobian block for {name!r}"

    result.add(
        R, J, tol, M,
        out_index=lambda k: unravel(k // n_in, s.out_shape),
        in_index=lambda k: unravel(k % n_in, in_shape),
        step=lambda k: col_step[k % n_in],
        abs_step=lambda k: col_h[k % n_in],
        compared=what,
        ref_err=REFERENCE_SAFETY * E,
    )


def probe_tolerance(J, E, M, weights, axis, eps_rule):
    """Tolerance, magnitude (``eps_64 M``) and reference error of ``J`` contracted with ``weights``
    along ``axis`` (0: cotangent, 1: tangent)."""
    w = np.abs(weights)
    if axis == 0:
        Ew, Mw = w @ E, w @ M
    else:
        Ew, Mw = E @ w, M @ w
    tol = REFERENCE_SAFETY * Ew + _factor(eps_rule) * Mw
    floor = FLOOR_FACTOR * eps_rule / _EPS64 * (Mw.max() if Mw.size else 0.0)
    return tol + floor, Mw, REFERENCE_SAFETY * Ew


def dot_magnitude(u64, Jv, ans_abs, v64, scale, rule_magnitude):
    """``eps_64`` times the magnitude of ``<u, J v>``: the rule's terms, the reference's, and the
    output term ``sum |u| |f(x)|`` times the typical ``|v|`` (all in the units of ``scale``)."""
    rms = float(np.sqrt(np.mean(v64.reshape(-1) ** 2))) if v64.size else 0.0
    out_term = float(np.abs(u64.reshape(-1)) @ (ans_abs * _EPS64)) * rms * scale
    return _EPS64 * rule_magnitude + _EPS64 * float(np.abs(u64.reshape(-1)) @ np.abs(Jv)) + out_term


def dot_compare(setup, pos, ref, result, u64, v64, rule_value, rule_magnitude, probe, what, scale=1.0,
                eps_rule=None, rule_words=None, allowance=0.0):
    """One dot-product probe: ``rule_value`` against ``<u, J v>`` (times ``scale``), retrying steps on failure.

    ``allowance`` is added to the tolerance.  Returns False (nothing recorded) when the
    reference's value is not finite at this scale.
    """
    s = setup
    eps_rule = s.eps_rule if eps_rule is None else eps_rule
    ans_abs = np.abs(s.ans64).reshape(-1)
    u = u64.reshape(-1)
    best = None
    used = []
    for step in ref.steps:
        used.append(step)
        Jv, err, h = ref.directional(v64, step, scale)
        ref_value = float(u @ Jv)
        if not (np.isfinite(ref_value) and np.all(np.isfinite(Jv))):
            return False
        mag = dot_magnitude(u64, Jv, ans_abs, v64, scale, rule_magnitude)
        ref_err = REFERENCE_SAFETY * float(np.abs(u) @ err)
        tol = ref_err + _factor(eps_rule) * mag + allowance
        ratio = float(_ratio(_diff(np.array([rule_value]), np.array([ref_value])), np.array([tol]))[0])
        if best is None or ratio < best[0]:
            best = (ratio, ref_value, tol, mag, step, h, ref_err)
        if ratio <= 1:
            break
    result.steps_used(used)
    ratio, ref_value, tol, mag, step, h, ref_err = best
    scaled = "" if scale == 1 else f", in units of {scale:.3g} (the random vectors scaled to keep every value finite)"
    result.add(
        [rule_value], [ref_value], [tol], [mag],
        out_index=lambda k: None, in_index=lambda k: None, step=step,
        abs_step=None if h is None else h * float(np.max(np.abs(v64))) if v64.size else None,
        compared=f"{what} (probe {probe + 1} of {s.probes}{scaled})", ref_err=[ref_err], words=(rule_words, None),
    )
    return True


_SELF_WORDS = {
    "vjp": "sum of |vjp(u) in {dt} - vjp(u) in float64| * |v|",
    "jvp": "sum of |u| * |jvp(v) in {dt} - jvp(v) in float64|",
    "jacobian": "sum of |u| * |J v in {dt} - J v in float64| (J from your Jacobian function)",
}


def dot_self(setup, result, u64, v64, terms, magnitude, terms64, magnitude64, probe, scale=1.0):
    """A float32 rule's terms of ``<u, J v>`` against those of the same rule run on the float64 point.

    The sum of the absolute differences must stay within float32 rounding of the magnitude:
    unlike ``<u, J v>`` itself, it does not shrink by random signs, so a float32-only error of
    ``1e-5`` relative is seen whatever the size of the arrays.
    """
    s = setup
    ans_abs = np.abs(s.ans64).reshape(-1)
    rms = float(np.sqrt(np.mean(v64.reshape(-1) ** 2))) if v64.size else 0.0
    mag = _EPS64 * (magnitude + magnitude64) + float(np.abs(u64.reshape(-1)) @ (ans_abs * _EPS64)) * rms * scale
    deviation = float(np.sum(np.abs(np.asarray(terms) - np.asarray(terms64))))
    scaled = "" if scale == 1 else f", in units of {scale:.3g}"
    result.add(
        [deviation], [0.0], [_factor(s.eps_rule) * mag], [mag], out_index=lambda k: None, in_index=lambda k: None,
        step=None, abs_step=None,
        compared=f"{_SELF_WORDS[s.kind].format(dt=s.rule_dtype)}, float32 rounding only (probe {probe + 1} of {s.probes}{scaled})",
        words=(f"your {s.kind} in {s.rule_dtype}, summed |difference| from its float64 run", "none expected beyond rounding"),
    )
