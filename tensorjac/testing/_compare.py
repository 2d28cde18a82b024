"""The error model and the comparisons: tolerances, ratios, the worst entry, step retries.

See the docstring of :mod:`tensorjac.testing` for the error model in words.
"""

from __future__ import annotations

import numpy as np

from ._report import ArgumentReport, index_text

__all__ = ["ROUNDING_FACTOR", "REFERENCE_SAFETY", "RETRY_FACTORS", "FLOOR_FACTOR", "Result"]

#: Multiplies ``eps * magnitude`` in the rounding part of the tolerance: a few roundings per
#: value, with a safety margin.  A float32 rule is then allowed ~2e-6 relative error; a scale
#: error of 1e-3 or a computation in float16 (~5e-4) is still far outside.
ROUNDING_FACTOR = 16.0
#: Multiplies the reference's error estimate (``NumericalBlocks.errors``), an estimate and not a bound.
REFERENCE_SAFETY = 4.0
#: Relative steps (times ``step``) at which finite differences are redone before an entry fails.
RETRY_FACTORS = (10.0, 0.1, 0.01)
#: Weight of the block-wide floor ``FLOOR_FACTOR * eps_rule * max(M)`` of the tolerance.
FLOOR_FACTOR = 4.0

_EPS64 = float(np.finfo(np.float64).eps)
REPRESENTATION = 4 * _EPS64  # rounding of the perturbed inputs, relative to |x| / step
_TINY = float(np.finfo(np.float64).tiny)


def _ratio(diff, tol):
    """``diff / tol`` (the check passes where <= 1); 0 where diff is 0, inf where diff is not finite."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = diff / np.maximum(tol, _TINY)
    r = np.where(diff == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


def _diff(rule, ref):
    d = np.abs(np.asarray(rule, dtype=np.float64) - ref)
    return np.where(np.isfinite(d), d, np.inf)


def _rel(diff, ref, M):
    """``diff / max(|ref|, M)``; where both are 0 (a structural zero), relative to the largest of the block."""
    den = np.maximum(np.abs(ref), M)
    scale = float(den.max()) if den.size else 0.0
    den = np.where(den > 0, den, scale)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = diff / den
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

    def fail(self, problem, exception=None):
        if self.rep.problem is None:
            self.rep.problem, self.rep.exception = problem, exception
        self.rep.ok = False

    def steps_used(self, steps):
        if steps and steps[0] is not None:
            self.rep.steps_tried = tuple(sorted(set(self.rep.steps_tried) | set(steps), key=lambda x: -x))

    def add(self, rule, ref, tol, M, out_index, in_index, step, abs_step, compared, primary=True):
        """Add compared values (arrays of one shape); ``out_index(k)``/``in_index(k)`` locate flat entry k.

        Values of a secondary comparison (the random probe of full mode) become the reported
        worst entry only if the primary one (the blocks) passed: a failing Jacobian entry says
        more than a failing contraction.
        """
        rule, ref, tol, M = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (rule, ref, tol, M))
        if rule.size == 0:
            return
        diff = _diff(rule, ref)
        ratio = _ratio(diff, tol)
        rel = _rel(diff, ref, M)
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
        if ratio[k] > 1:
            rep.ok = False


def unravel(k, shape):
    return tuple(int(i) for i in np.unravel_index(int(k), shape)) if shape else ()


def _tolerance(J, E, R, ans_abs, eps_rule):
    """Entry tolerances and magnitudes of a Jacobian matrix block (rows: outputs, cols: inputs).

    The output term ``|f(x)[i]|`` of the magnitude applies where the derivative is nonzero:
    where the reference is above its own noise, or where the rule gives a nonzero value (a
    rounded cancellation such as ``s - s*s`` with s one ulp below 1 must not be blamed).
    """
    nonzero = (np.abs(J) > REFERENCE_SAFETY * E) | (np.asarray(R) != 0)
    M = np.abs(J) + nonzero * ans_abs[:, None]
    return REFERENCE_SAFETY * E + ROUNDING_FACTOR * (eps_rule + _EPS64) * M, M


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
    floor = FLOOR_FACTOR * s.eps_rule * (M.max() if M.size else 0.0)
    tol = tol + floor
    result.steps_used(used)
    in_shape = s.arrays[pos].shape
    return J, E, M, tol, col_step, col_h, in_shape


def report_full(setup, pos, result, R, J, tol, M, col_step, col_h):
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
    )


def probe_tolerance(J, E, M, weights, axis, eps_rule):
    """Tolerance and magnitude of ``J`` contracted with ``weights`` along ``axis`` (0: cotangent, 1: tangent)."""
    w = np.abs(weights)
    if axis == 0:
        Ew, Mw = w @ E, w @ M
    else:
        Ew, Mw = E @ w, M @ w
    tol = REFERENCE_SAFETY * Ew + ROUNDING_FACTOR * (eps_rule + _EPS64) * Mw
    floor = FLOOR_FACTOR * eps_rule * (Mw.max() if Mw.size else 0.0)
    return tol + floor, Mw


def dot_compare(setup, pos, ref, result, u64, v64, rule_value, rule_magnitude, probe, what):
    """One dot-product probe: ``rule_value`` against ``<u, J v>``, retrying steps on failure."""
    s = setup
    ans_abs = np.abs(s.ans64).reshape(-1)
    u = u64.reshape(-1)
    rms = float(np.sqrt(np.mean(v64.reshape(-1) ** 2))) if v64.size else 0.0
    best = None
    used = []
    for step in ref.steps:
        used.append(step)
        Jv, err, h = ref.directional(v64, step)
        ref_value = float(u @ Jv)
        magnitude = rule_magnitude + float(np.abs(u) @ np.abs(Jv)) + float(np.abs(u) @ ans_abs) * rms
        tol = REFERENCE_SAFETY * float(np.abs(u) @ err) + ROUNDING_FACTOR * (s.eps_rule + _EPS64) * magnitude
        ratio = float(_ratio(_diff(np.array([rule_value]), np.array([ref_value])), np.array([tol]))[0])
        if best is None or ratio < best[0]:
            best = (ratio, ref_value, tol, magnitude, step, h)
        if ratio <= 1:
            break
    result.steps_used(used)
    ratio, ref_value, tol, magnitude, step, h = best
    result.add(
        [rule_value], [ref_value], [tol], [magnitude],
        out_index=lambda k: None, in_index=lambda k: None, step=step,
        abs_step=None if h is None else h * float(np.max(np.abs(v64))) if v64.size else None,
        compared=f"{what} (probe {probe + 1} of {s.probes})",
    )


