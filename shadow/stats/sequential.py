"""Anytime-valid statistics: bounds that stay valid however often a sponsor looks.

docs/statistics.md section 4: the beta-mixture e-value for a rate against a floor (and its mirror
for a fall below one), the always-valid p-value, the predictable plug-in empirical-Bernstein
(PrPl-EB) confidence sequence over a stream in the order outcomes matured, with its running sums
carried from one run to the next, and the evidence a gate still needs ("the price of peeking").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

from shadow.stats.common import BoolArray, FloatArray, _f, _nan_where


def log_beta_mixture_evalue(s: npt.ArrayLike, n: npt.ArrayLike, p0: npt.ArrayLike) -> FloatArray:
    """ln E_n of the one-sided beta-mixture e-process for H0: p <= p0 (§4.3 ii); NaN where n = 0.

    E_n = B(S+1, n-S+1)·(1 - I_p0(S+1, n-S+1)) / ((1-p0)·p0^S·(1-p0)^(n-S)), mixing over q ~ U(p0, 1).
    In logs so that it neither overflows nor underflows for large n.
    """
    s, n, p0 = _f(s), _f(n), _f(p0)
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = np.log(special.betaincc(s + 1, n - s + 1, p0))
        out = (
            special.betaln(s + 1, n - s + 1)
            + upper
            - np.log1p(-p0)
            - special.xlogy(s, p0)
            - special.xlog1py(n - s, -p0)
        )
    (out,) = _nan_where(n == 0, out)
    return out


def beta_mixture_evalue(s: npt.ArrayLike, n: npt.ArrayLike, p0: npt.ArrayLike) -> FloatArray:
    """One-sided beta-mixture e-value E_n for H0: p <= p0 (§4.3 ii); the gate passes when E_n >= 1/alpha."""
    with np.errstate(over="ignore"):
        return np.exp(log_beta_mixture_evalue(s, n, p0))


def beta_mixture_evalue_below(s: npt.ArrayLike, n: npt.ArrayLike, p0: npt.ArrayLike) -> FloatArray:
    """The mirror-image e-value for H0: p >= p0, mixing over q ~ U(0, p0) (§9.4, demotion).

    By symmetry it is the upper-side e-value for the failures n - S against 1 - p0.
    """
    s, n, p0 = _f(s), _f(n), _f(p0)
    return beta_mixture_evalue(n - s, n, 1 - p0)


def always_valid_p(evalues: npt.ArrayLike, groups: npt.ArrayLike | None = None) -> FloatArray:
    """Always-valid p-value along a stream of e-values: min(1, 1 / running max of E) (§4.2, §4.3 ii).

    With ``groups``, the running max restarts at each group. NaN e-values (n = 0) count as E = 1.
    """
    e = np.nan_to_num(_f(evalues), nan=1.0, posinf=np.inf)
    # ln E clipped to [0, 1000]: below 0 the p-value is 1 anyway, above 1000 it is 0 to double precision.
    log_e = np.clip(np.log(np.maximum(e, 1.0)), 0.0, 1000.0)
    if groups is not None:
        # Lift each group above all earlier ones so one running max serves every group.
        seg = _segment_number(groups)
        log_e = np.maximum.accumulate(log_e + 2000.0 * seg) - 2000.0 * seg
    else:
        log_e = np.maximum.accumulate(log_e)
    return np.asarray(np.minimum(1.0, np.exp(-log_e)), dtype=np.float64)


def _segment_number(groups: npt.ArrayLike) -> FloatArray:
    g = np.asarray(groups)
    starts = np.ones(g.shape[0], dtype=bool)
    starts[1:] = g[1:] != g[:-1]
    return np.cumsum(starts).astype(np.float64) - 1


def _positions(length: int, groups: npt.ArrayLike | None) -> tuple[FloatArray, BoolArray]:
    """1-based position within its group, and whether each element starts a group."""
    starts = np.zeros(length, dtype=bool)
    if length:
        starts[0] = True
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != (length,):
            raise ValueError("groups must have one entry per stream element")
        starts[1:] = g[1:] != g[:-1]
    index = np.arange(length)
    first = np.maximum.accumulate(np.where(starts, index, 0))
    return (index - first + 1).astype(np.float64), starts


class PrplEB(NamedTuple):
    """PrPl-EB bounds at every step of a stream (§4.3 iii)."""

    low: FloatArray  # two-sided CS at level alpha
    high: FloatArray
    lower: FloatArray  # one-sided lower bound at level alpha (its own λ's: L = ln(1/alpha))


class PrplSums(NamedTuple):
    """Where a PrPl-EB stream stands after its elements so far: its running sums (§4.3 iii).

    Carried into the next run (prpl_eb_run), the stream goes on exactly, to the last bit, as if
    it had been read in one pass: every sum adds its elements one at a time, in order.
    """

    t: int  # elements so far
    x: float  # Σ X_i
    squares: float  # Σ (X_i - μ̂_i)², μ̂_i including X_i
    lam: tuple[float, ...]  # per log term L: Σ λ_i
    lam_x: tuple[float, ...]  # Σ λ_i X_i
    v_psi: tuple[float, ...]  # Σ v_i ψ_E(λ_i)

    @classmethod
    def start(cls, sides: int) -> PrplSums:
        """A stream with no element yet, for `sides` log terms."""
        zero = (0.0,) * sides
        return cls(0, 0.0, 0.0, zero, zero, zero)


class PrplTrail(NamedTuple):
    """PrplSums after each of some elements of a stream: each field one entry per element."""

    t: npt.NDArray[np.int64]
    x: FloatArray
    squares: FloatArray
    lam: tuple[FloatArray, ...]
    lam_x: tuple[FloatArray, ...]
    v_psi: tuple[FloatArray, ...]

    def sums(self, i: int = -1) -> PrplSums:
        """The sums after the i-th of the elements (default the last)."""
        return PrplSums(
            int(self.t[i]),
            float(self.x[i]),
            float(self.squares[i]),
            tuple(float(a[i]) for a in self.lam),
            tuple(float(a[i]) for a in self.lam_x),
            tuple(float(a[i]) for a in self.v_psi),
        )


def _running(values: FloatArray, initial: float) -> FloatArray:
    """The running sum of `values` from `initial`, adding one element at a time, in order."""
    out = np.array(values, dtype=np.float64)
    if out.size:
        out[0] += initial
        np.cumsum(out, out=out)
    return out


def prpl_eb_run(
    x: FloatArray,
    log_terms: tuple[float, ...],
    at: npt.NDArray[np.intp] | None = None,
    sums: PrplSums | None = None,
) -> tuple[list[FloatArray], PrplTrail]:
    """(centre, margin) of PrPl-EB for each L in log_terms after the elements `at` of one stream
    (default: after each), each stacked as shape (2, len(at)); and the sums after those elements.

    `sums` continues a stream from where an earlier run left it (`trail.sums()` of that run). The
    plug-in mean and variance do not depend on L: they are worked out once for every side.
    """
    s = sums or PrplSums.start(len(log_terms))
    n = x.shape[0]
    t = s.t + np.arange(1, n + 1, dtype=np.float64)
    total = _running(x, s.x)
    mu = (0.5 + total) / (t + 1)
    squares = _running((x - mu) ** 2, s.squares)
    var = (0.25 + squares) / (t + 1)
    # the plug-ins before each element: the regularised start (½, ¼) or where the stream was
    mu_prev = np.r_[(0.5 + s.x) / (s.t + 1), mu[:-1]] if n else mu
    var_prev = np.r_[(0.25 + s.squares) / (s.t + 1), var[:-1]] if n else var
    del mu, var
    v = 4 * (x - mu_prev) ** 2
    scale = 1 / (var_prev * t * np.log1p(t))
    del mu_prev, var_prev
    picked: npt.NDArray[np.intp] = np.arange(n) if at is None else at
    sides: list[FloatArray] = []
    trail: list[list[FloatArray]] = [[], [], []]
    for i, log_term in enumerate(log_terms):
        lam = np.minimum(np.sqrt(2 * log_term * scale), 0.5)
        psi = (-np.log1p(-lam) - lam) / 4
        sum_lam = _running(lam, s.lam[i])[picked]
        sum_lam_x = _running(lam * x, s.lam_x[i])[picked]
        sum_v_psi = _running(v * psi, s.v_psi[i])[picked]
        sides.append(np.stack([sum_lam_x / sum_lam, (log_term + sum_v_psi) / sum_lam]))
        for kept, values in zip(trail, (sum_lam, sum_lam_x, sum_v_psi), strict=True):
            kept.append(values)
    return sides, PrplTrail(
        (s.t + 1 + picked).astype(np.int64),
        total[picked],
        squares[picked],
        *(tuple(kept) for kept in trail),
    )


def _prpl_eb_sides(
    x: FloatArray,
    groups: npt.ArrayLike | None,
    log_terms: tuple[float, ...],
    at: npt.NDArray[np.intp] | None = None,
) -> list[FloatArray]:
    """prpl_eb_run over each group of the stream (its elements together, in order), after the
    elements `at` (ascending; default all): groups without an element in `at` are skipped."""
    n = x.shape[0]
    _, starts = _positions(n, groups)
    bounds: npt.NDArray[np.intp] = np.r_[np.flatnonzero(starts), n]
    picked: npt.NDArray[np.intp] = np.arange(n) if at is None else np.asarray(at)
    cut: npt.NDArray[np.intp] = np.searchsorted(picked, bounds)
    out = [np.empty((2, picked.shape[0])) for _ in log_terms]
    for g in np.flatnonzero(cut[1:] > cut[:-1]):
        first, lo, hi = bounds[g], cut[g], cut[g + 1]
        sides, _ = prpl_eb_run(x[first : bounds[g + 1]], log_terms, picked[lo:hi] - first)
        for whole, side in zip(out, sides, strict=True):
            whole[:, lo:hi] = side
    return out


def prpl_eb(x: npt.ArrayLike, alpha: float = 0.05, groups: npt.ArrayLike | None = None) -> PrplEB:
    """Predictable plug-in empirical-Bernstein CS for the mean of X in [0, 1] (§4.3 iii).

    Waudby-Smith & Ramdas (2024), Thm 2, with the paper's regularised plug-ins (μ̂_0 = ½, var_0 = ¼).
    ``x`` is the append-only stream in the order labels matured; element t of the result is the bound
    after the first t+1 elements of its group. Order-dependent: never re-sort history.
    """
    xs = _f(x)
    if xs.ndim != 1:
        raise ValueError("x must be a 1-D stream")
    two, one = _prpl_eb_sides(xs, groups, (float(np.log(2 / alpha)), float(np.log(1 / alpha))))
    return PrplEB(
        np.maximum(two[0] - two[1], 0.0),
        np.minimum(two[0] + two[1], 1.0),
        np.maximum(one[0] - one[1], 0.0),
    )


def prpl_eb_paired(
    d: npt.ArrayLike, alpha: float = 0.05, groups: npt.ArrayLike | None = None
) -> PrplEB:
    """PrPl-EB for Δ from paired differences D = model right - person right ∈ {-1, 0, 1} (§4.3 iii).

    Runs on X = (D + 1)/2 and maps back with Δ = 2μ - 1, so the bounds are on the Δ scale [-1, 1].
    """
    cs = prpl_eb((_f(d) + 1) / 2, alpha, groups)
    return PrplEB(2 * cs.low - 1, 2 * cs.high - 1, 2 * cs.lower - 1)


def _first_pass(
    passes: Callable[[npt.NDArray[np.intp], FloatArray], BoolArray],
    groups: int,
    step: int,
    n_max: int,
    cells: int = 2_000_000,
) -> FloatArray:
    """Smallest n on the grid step, 2·step, ... <= n_max where ``passes(rows, n)`` first holds, per row.

    ``passes`` gets row indices (k,) and a (k, m) grid of n. The horizon grows fourfold from 1000 for
    rows not yet resolved, in chunks of rows that keep each (rows x grid) block under ``cells``.
    """
    found = np.full(groups, np.inf)
    todo = np.arange(groups)
    horizon = 1000
    start = step
    while todo.size and start <= n_max:
        end = min(horizon, n_max)
        grid = np.arange(start, end + 1, step, dtype=np.float64)
        if grid.size:
            per_chunk = max(1, cells // grid.size)
            for first in range(0, todo.size, per_chunk):
                rows = todo[first : first + per_chunk]
                ok = passes(rows, np.broadcast_to(grid, (rows.size, grid.size)))
                hit = ok.any(axis=1)
                found[rows[hit]] = grid[np.argmax(ok[hit], axis=1)]
        todo = todo[~np.isfinite(found[todo])]
        start = int(grid[-1]) + step if grid.size else start
        horizon *= 4
    return found


def evidence_needed(
    p: npt.ArrayLike,
    p0: npt.ArrayLike,
    alpha: float = 0.05,
    *,
    step: int = 5,
    n_max: int = 100_000,
) -> FloatArray:
    """Labelled cases needed before the one-sided beta-mixture e-test for H0: rate <= p0 passes (§4.4).

    Assumes the data sit exactly at rate p: at n cases, S = round(p·n) of them are right (numpy's
    round, half to even), and n runs over a grid of ``step`` cases. This convention reproduces every
    row of the "price of peeking" table of docs/statistics.md 4.4 (e.g. 0.90 → 0.85: 395 at alpha = 0.05, 535 at
    alpha = 0.0125). The answer is the first n on the grid where E_n >= 1/alpha. inf where the test does not
    pass by n_max (e.g. p <= p0); NaN where p or p0 is NaN.
    """
    p, p0 = np.broadcast_arrays(_f(p), _f(p0))
    flat_p, flat_p0 = p.ravel(), p0.ravel()
    log_target = np.log(1 / alpha)

    def passes(rows: npt.NDArray[np.intp], n: FloatArray) -> BoolArray:
        pr, p0r = flat_p[rows][:, None], flat_p0[rows][:, None]
        s = np.broadcast_to(np.round(pr * n), n.shape)
        p0b = np.broadcast_to(p0r, n.shape)
        # The mixture never beats the best single alternative, so ln E_n <= n·KL(S/n, p0): only where
        # that reaches ln(1/alpha) is the (slow) incomplete beta worth computing.
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = special.xlogy(s, s / (n * p0b)) + special.xlogy(n - s, (n - s) / (n * (1 - p0b)))
        maybe = (kl >= log_target) & (s > n * p0b)
        ok = np.zeros(n.shape, dtype=bool)
        ok[maybe] = log_beta_mixture_evalue(s[maybe], n[maybe], p0b[maybe]) >= log_target
        return ok

    usable = np.isfinite(flat_p) & np.isfinite(flat_p0) & (flat_p > flat_p0)
    out = np.full(flat_p.shape, np.inf)
    idx = np.flatnonzero(usable)
    if idx.size:
        out[idx] = _first_pass(lambda r, n: passes(idx[r], n), idx.size, step, n_max)
    out[~(np.isfinite(flat_p) & np.isfinite(flat_p0))] = np.nan
    return out.reshape(p.shape)


def paired_stream(p10: npt.ArrayLike, p01: npt.ArrayLike, n: int) -> FloatArray:
    """Deterministic streams of paired differences D at discordant rates p10 (+1) and p01 (-1) (§4.4).

    After t cases a stream holds floor(p10·t) cases where only the model was right and floor(p01·t)
    where only the person was, one case per step: when both fall due together the +1 comes first and
    the -1 takes the next step without a +1 (needs p10 + p01 <= 1). Shape (..., n) for rates of shape
    (...). For planning, never evidence.
    """
    p10, p01 = _f(p10)[..., None], _f(p01)[..., None]
    t = np.arange(n + 1, dtype=np.float64)
    plus = np.diff(np.floor(p10 * t + 1e-9), axis=-1)
    due_minus = np.floor(p01 * t + 1e-9)
    zero = np.zeros((*plus.shape[:-1], 1))
    free = np.concatenate([zero, np.cumsum(1 - plus, axis=-1)], axis=-1)
    # Minuses queue for steps without a plus: placed(t) - free(t) = min_{s<=t} (due(s) - free(s)).
    placed = free + np.minimum.accumulate(due_minus - free, axis=-1)
    return np.asarray(plus - np.diff(placed, axis=-1), dtype=np.float64)


def evidence_needed_paired(
    p10: npt.ArrayLike,
    p01: npt.ArrayLike,
    margin: npt.ArrayLike,
    alpha: float = 0.05,
    *,
    n_max: int = 100_000,
) -> FloatArray:
    """Paired cases needed before the one-sided PrPl-EB lower bound on Δ exceeds -margin (§4.4, E3).

    On the deterministic ``paired_stream(p10, p01, n)``; the first n (every n counts) where the bound
    at level alpha is above -margin. Reproduces docs/statistics.md 4.4's planning values for δ = 0.05, alpha = 0.05:
    380 (p10 = p01 = 0.05), 213 (0.08/0.05), 750 (0.10/0.10), 100 (0.15/0.05). inf where it does not
    pass by n_max, and at once where p10 - p01 <= -margin (the bound settles near p10 - p01, so a
    pass there would be a transient of the planning stream, not a plan); NaN for NaN input.
    """
    p10, p01, margin = np.broadcast_arrays(_f(p10), _f(p01), _f(margin))
    f10, f01, fm = p10.ravel(), p01.ravel(), margin.ravel()
    out = np.full(f10.shape, np.inf)
    bad = ~(np.isfinite(f10) & np.isfinite(f01) & np.isfinite(fm))
    idx = np.flatnonzero(~bad & (f10 - f01 > -fm))

    def passes(rows: npt.NDArray[np.intp], n: FloatArray) -> BoolArray:
        length = int(n[0, -1])
        first = int(n[0, 0])
        streams = paired_stream(f10[idx[rows]], f01[idx[rows]], length)
        groups = np.repeat(np.arange(rows.size), length)
        lower = prpl_eb_paired(streams.ravel(), alpha, groups).lower.reshape(rows.size, length)
        return np.asarray(lower[:, first - 1 :] > -fm[idx[rows]][:, None])

    if idx.size:
        out[idx] = _first_pass(passes, idx.size, 1, n_max)
    out[bad] = np.nan
    return out.reshape(p10.shape)
