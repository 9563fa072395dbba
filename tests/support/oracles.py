"""Statistics used only as test oracles: other intervals and tests, cross-checks of the product's.

Each is docs/statistics.md's formula (or STATISTICS.md's library call), checked against its
oracle table in tests/unit/stats/test_stats.py; the product's tests use them as second opinions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

from shadow.stats.common import (
    BoolArray,
    FloatArray,
    Interval,
    _boundary,
    _f,
    _nan_where,
    _norm_sf,
    _z,
)
from shadow.stats.fixed import _proportions, newcombe, wilson
from shadow.stats.monitoring import psi_from_shares
from shadow.stats.sequential import PrplEB, _positions, _prpl_eb_sides, beta_mixture_evalue


def wilson_lower_one_sided(k: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05) -> FloatArray:
    """One-sided Wilson lower bound at level alpha: the low end of the two-sided interval at 2·alpha (§1)."""
    return wilson(k, n, 2 * alpha).low


def clopper_pearson(k: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05) -> Interval:
    """Clopper-Pearson ("exact", statsmodels method="beta") interval (§1): coverage at least 1 - alpha."""
    from scipy import stats

    k, n = _f(k), _f(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return Interval(*_nan_where(n == 0, low, high))


def clopper_pearson_lower_one_sided(
    k: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05
) -> FloatArray:
    """One-sided Clopper-Pearson lower bound at level alpha (§1)."""
    return clopper_pearson(k, n, 2 * alpha).low


def agresti_coull(k: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05) -> Interval:
    """Agresti-Coull interval (§1), clipped to [0, 1] like statsmodels'. Fine for n >= 40."""
    k, n = _f(k), _f(n)
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        nt = n + z * z
        pt = (k + z * z / 2) / nt
        half = z * np.sqrt(pt * (1 - pt) / nt)
    low, high = np.clip(pt - half, 0, 1), np.clip(pt + half, 0, 1)
    return Interval(*_nan_where(n == 0, low, high))


def newcombe_lower_one_sided(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike, alpha: float = 0.05
) -> FloatArray:
    """One-sided Newcombe lower bound for Δ at level alpha (§2.3, CI inclusion)."""
    return newcombe(a, b, c, d, 2 * alpha).low


def wald_paired(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    c: npt.ArrayLike,
    d: npt.ArrayLike,
    alpha: float = 0.05,
    correction: bool = False,
) -> Interval:
    """Wald interval for Δ (§2.2), optionally with the 1/n continuity correction. Large n only."""
    a, b, c, d = _f(a), _f(b), _f(c), _f(d)
    n = a + b + c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (b - c) / n
        half = _z(alpha) * np.sqrt(b + c - (b - c) ** 2 / n) / n + (1 / n if correction else 0.0)
    return Interval(*_nan_where(n == 0, delta - half, delta + half))


def tango_statistic(
    b: npt.ArrayLike, c: npt.ArrayLike, n: npt.ArrayLike, delta0: npt.ArrayLike
) -> FloatArray:
    """Tango's score statistic T(δ0) for H0: Δ = δ0 (§2.2b), from the restricted MLE of the c cell.

    At δ0 = 0 it is McNemar's z = (b - c)/sqrt(b + c).
    """
    b, c, n, d0 = _f(b), _f(c), _f(n), _f(delta0)
    with np.errstate(divide="ignore", invalid="ignore"):
        qa = 2 * n
        qb = -b - c + (2 * n - b + c) * d0
        qc = -c * d0 * (1 - d0)
        p21 = (np.sqrt(qb * qb - 4 * qa * qc) - qb) / (2 * qa)
        return (b - c - n * d0) / np.sqrt(n * (2 * p21 + d0 * (1 - d0)))


def tango(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike, alpha: float = 0.05
) -> Interval:
    """Tango's asymptotic score interval for Δ (§2.2b): {δ0 : |T(δ0)| <= z}, by vectorised bisection."""
    a, b, c, d = np.broadcast_arrays(_f(a), _f(b), _f(c), _f(d))
    n = a + b + c + d
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (b - c) / n

    def inside(d0: FloatArray) -> BoolArray:
        with np.errstate(invalid="ignore"):
            return np.asarray(np.abs(tango_statistic(b, c, n, d0)) <= z)

    safe = np.where(n == 0, 0.0, delta)
    low = _boundary(inside, np.full_like(safe, -1.0), safe)
    high = _boundary(inside, np.full_like(safe, 1.0), safe)
    return Interval(*_nan_where(n == 0, low, high))


class NonInferiority(NamedTuple):
    """Score test of H0: Δ <= -margin against H1: Δ > -margin (§2.3)."""

    z: FloatArray
    p_value: FloatArray


def noninferiority_score_test(
    b: npt.ArrayLike, c: npt.ArrayLike, n: npt.ArrayLike, margin: npt.ArrayLike
) -> NonInferiority:
    """Non-inferiority score test (Nam 1997, Tango 1998; §2.3): Z = T(-margin), one-sided p = 1 - Φ(Z).

    A fixed-n test: under daily looks use the anytime-valid PrPl-EB lower bound instead (§9.2 E3).
    """
    z = tango_statistic(b, c, n, -_f(margin))
    return NonInferiority(z, _norm_sf(z))


def pabak(table: npt.ArrayLike) -> FloatArray:
    """Prevalence- and bias-adjusted kappa (§3): (q·p_o - 1)/(q - 1), i.e. 2·p_o - 1 for two labels."""
    p, n, po = _proportions(table)
    q = p.shape[-1]
    (out,) = _nan_where(n == 0, (q * po - 1) / (q - 1))
    return out


class SpecificAgreement(NamedTuple):
    """Agreement on each label separately (§3); NaN where neither rater used that label."""

    positive: FloatArray
    negative: FloatArray


def specific_agreement(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike
) -> SpecificAgreement:
    """Positive and negative specific agreement from a 2x2 table [[a, b], [c, d]] (§3).

    a = both said positive, d = both said negative. P_pos = 2a/(2a+b+c), P_neg = 2d/(2d+b+c).
    """
    a, b, c, d = _f(a), _f(b), _f(c), _f(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        pos, neg = 2 * a / (2 * a + b + c), 2 * d / (2 * d + b + c)
    return SpecificAgreement(np.asarray(pos), np.asarray(neg))


def dirichlet_cs(
    b: npt.ArrayLike, c: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05
) -> Interval:
    """Dirichlet(1,1,1)-multinomial mixture CS for Δ, projected (§4.3 v); order-invariant, conservative.

    {δ0 : loglik(θ̃(δ0)) > ln alpha + ln m_n}, θ̃ Tango's restricted MLE, ln m_n = lnΓ(3) + Σ lnΓ(n_k+1) - lnΓ(n+3).
    A cross-check for the PrPl-EB bound in gate E3.
    """
    b, c, n = np.broadcast_arrays(_f(b), _f(c), _f(n))
    rest = n - b - c
    gl = special.gammaln
    threshold = np.log(alpha) + gl(3) + gl(b + 1) + gl(c + 1) + gl(rest + 1) - gl(n + 3)

    def inside(d0: FloatArray) -> BoolArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            qb = -b - c + (2 * n - b + c) * d0
            p21 = (np.sqrt(qb * qb + 8 * n * c * d0 * (1 - d0)) - qb) / (4 * n)
            p12 = p21 + d0
            loglik = (
                special.xlogy(b, p12) + special.xlogy(c, p21) + special.xlog1py(rest, -p12 - p21)
            )
            return np.asarray(loglik > threshold)

    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(n == 0, 0.0, (b - c) / n)
    low = _boundary(inside, np.full_like(delta, -1.0), delta)
    high = _boundary(inside, np.full_like(delta, 1.0), delta)
    return Interval(*_nan_where(n == 0, low, high))


def hoeffding_mixture_halfwidth(
    t: npt.ArrayLike, alpha: float = 0.05, t_opt: float = 500.0, half_range: float = 0.5
) -> FloatArray:
    """Half-width of Robbins' normal-mixture Hoeffding CS for a bounded mean at time t (§4.3 iv).

    half_range r = ½ for [0, 1], 1 for [-1, 1]; rho tuned at t_opt. Equals confseq's
    ``conjmix_hoeffding_twosided_cs``.
    """
    t = _f(t)
    r2 = half_range**2
    la = np.log(1 / alpha)
    rho = r2 * t_opt / (2 * la + np.log(1 + 2 * la))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt((r2 * t + rho) * np.log((r2 * t + rho) / (rho * alpha**2))) / t
    (out,) = _nan_where(t <= 0, out)
    return out


def stitched_halfwidth(
    t: npt.ArrayLike, alpha: float = 0.05, half_range: float = 0.5
) -> FloatArray:
    """Half-width of Howard et al.'s (2021) stitched two-sided CS at time t >= 1 (§4.3 iv).

    1.7·sqrt(t·(ln ln(2t) + 0.72·ln(5.2/(alpha/2))))·r/t: the one-sided bound at alpha/2 per side.
    """
    t = _f(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (
            1.7
            * np.sqrt(t * (np.log(np.log(2 * t)) + 0.72 * np.log(5.2 / (alpha / 2))))
            * half_range
            / t
        )
    (out,) = _nan_where(t < 1, out)
    return out


def _cumsum(values: FloatArray, starts: BoolArray) -> FloatArray:
    """Cumulative sum that restarts at every group start."""
    return _cumsum_from(values, _firsts(starts))


def _firsts(starts: BoolArray) -> npt.NDArray[np.intp]:
    """The index of the first element of each element's group."""
    index = np.arange(starts.shape[0])
    return np.maximum.accumulate(np.where(starts, index, 0))


def _cumsum_from(values: FloatArray, first: npt.NDArray[np.intp]) -> FloatArray:
    """`_cumsum` with the groups given by `_firsts` (worked out once for many sums)."""
    total = np.cumsum(values)
    return np.asarray(total - (total - values)[first], dtype=np.float64)


def running_sums_at(
    values: npt.NDArray[Any], at: npt.NDArray[np.intp], first_at: npt.NDArray[np.intp]
) -> npt.NDArray[Any]:
    """Each group's running sum of `values` after the elements `at` (`first_at`: the first element
    of each one's group): `_cumsum_from(values, first)[at]`, without the whole array."""
    total = np.cumsum(values)
    return np.asarray(total[at] - (total[first_at] - values[first_at]))


def prpl_eb_lower(
    x: npt.ArrayLike,
    alpha: float,
    groups: npt.ArrayLike | None = None,
    at: npt.NDArray[np.intp] | None = None,
) -> FloatArray:
    """Only `prpl_eb(x, alpha, groups).lower` (after the elements `at`, default all): one side."""
    xs = _f(x)
    (one,) = _prpl_eb_sides(xs, groups, (float(np.log(1 / alpha)),), at)
    return np.asarray(np.maximum(one[0] - one[1], 0.0), dtype=np.float64)


def prpl_eb_paired_lowers(
    d: npt.ArrayLike,
    alpha: float,
    lower_alpha: float,
    groups: npt.ArrayLike | None = None,
    at: npt.NDArray[np.intp] | None = None,
) -> tuple[PrplEB, FloatArray]:
    """`prpl_eb_paired` at alpha, and its one-sided lower bound at lower_alpha, in one pass.

    The plug-in mean and variance are shared by every bound: worked out once, not once per alpha.
    The bounds are those after the elements `at` (default: after every element).
    """
    xs = (_f(d) + 1) / 2
    logs = (float(np.log(2 / alpha)), float(np.log(1 / alpha)), float(np.log(1 / lower_alpha)))
    two, one, other = _prpl_eb_sides(xs, groups, logs, at)
    cs = PrplEB(
        np.maximum(two[0] - two[1], 0.0),
        np.minimum(two[0] + two[1], 1.0),
        np.maximum(one[0] - one[1], 0.0),
    )
    other_lower = np.maximum(other[0] - other[1], 0.0)
    return PrplEB(2 * cs.low - 1, 2 * cs.high - 1, 2 * cs.lower - 1), 2 * other_lower - 1


def beta_mixture_evalue_stream(
    correct: npt.ArrayLike, p0: float, groups: npt.ArrayLike | None = None
) -> FloatArray:
    """E_t of the one-sided beta-mixture e-process after each element of a 0/1 stream (§4.3 ii)."""
    xs = _f(correct)
    t, starts = _positions(xs.shape[0], groups)
    return beta_mixture_evalue(_cumsum(xs, starts), t, p0)


def obrien_fleming_spending(t: npt.ArrayLike, alpha: float = 0.05) -> FloatArray:
    """Lan-DeMets O'Brien-Fleming-type cumulative alpha spent at information fraction t (§4.2)."""
    from scipy import stats

    with np.errstate(divide="ignore"):
        return np.asarray(2 - 2 * stats.norm.cdf(_z(alpha) / np.sqrt(_f(t))), dtype=np.float64)


def pocock_spending(t: npt.ArrayLike, alpha: float = 0.05) -> FloatArray:
    """Lan-DeMets Pocock-type cumulative alpha spent at information fraction t (§4.2)."""
    return np.asarray(alpha * np.log1p((np.e - 1) * _f(t)), dtype=np.float64)


def psi(
    reference: npt.ArrayLike, current: npt.ArrayLike, n_bins: int = 10, eps: float = 1e-4
) -> float:
    """PSI of current scores against reference scores, on the reference's quantile bins (§6.1).

    Bins are the reference deciles (n_bins = 10), right-closed like sklearn's calibration bins, open
    at both outer ends. NaN if either side is empty.
    """
    ref, cur = _f(reference).ravel(), _f(current).ravel()
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    edges = np.quantile(ref, np.arange(1, n_bins) / n_bins)
    e = np.bincount(np.searchsorted(edges, ref), minlength=n_bins) / ref.size
    a = np.bincount(np.searchsorted(edges, cur), minlength=n_bins) / cur.size
    return float(psi_from_shares(e, a, eps))


def wasserstein(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """Wasserstein-1 distance in score units (§6.1), scipy's ``wasserstein_distance``; NaN if empty."""
    from scipy import stats

    ref, cur = _f(reference).ravel(), _f(current).ravel()
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    return float(stats.wasserstein_distance(ref, cur))


def ks_statistic(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (§6.1), an effect size; its p-value is not used."""
    from scipy import stats

    ref, cur = _f(reference).ravel(), _f(current).ravel()
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    return float(stats.ks_2samp(ref, cur).statistic)


def _labels_and_probs(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    ys, ps = _f(y).ravel(), _f(p).ravel()
    if ys.shape != ps.shape:
        raise ValueError("y and p must have the same length")
    return ys, ps


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Brier score, sklearn's ``brier_score_loss`` (§5.4); NaN with no labelled case."""
    from sklearn.metrics import brier_score_loss

    ys, ps = _labels_and_probs(y, p)
    if ys.size == 0:
        return float("nan")
    # Positional: the keyword is y_proba in sklearn 1.9 and was y_prob before.
    return float(brier_score_loss(ys, ps, labels=[0, 1]))


class ReliabilityBins(NamedTuple):
    """Reliability diagram bins (§5.4): non-empty bins only, as sklearn's ``calibration_curve``."""

    prob_true: FloatArray  # observed rate in the bin
    prob_pred: FloatArray  # mean predicted probability in the bin
    cases: npt.NDArray[np.int64]  # cases in the bin


def reliability_bins(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 5) -> ReliabilityBins:
    """Equal-width reliability bins with sklearn's convention (§5.4): right-closed, empty bins dropped.

    A probability on an inner edge (p = 0.2 with 5 bins) falls in the lower bin.
    """
    ys, ps = _labels_and_probs(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], ps)
    count = np.bincount(ids, minlength=n_bins)
    sum_y = np.bincount(ids, weights=ys, minlength=n_bins)
    sum_p = np.bincount(ids, weights=ps, minlength=n_bins)
    keep = count > 0
    return ReliabilityBins(
        sum_y[keep] / count[keep], sum_p[keep] / count[keep], count[keep].astype(np.int64)
    )


def expected_calibration_error(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 5) -> float:
    """ECE = Σ_b (n_b/n)·|mean(y in b) - mean(p in b)| on ``reliability_bins`` (§5.4); NaN if empty.

    Biased upward at small n: show it with the bin counts.
    """
    bins = reliability_bins(y, p, n_bins)
    total = bins.cases.sum()
    if total == 0:
        return float("nan")
    return float((bins.cases * np.abs(bins.prob_true - bins.prob_pred)).sum() / total)


class Spiegelhalter(NamedTuple):
    """Spiegelhalter's calibration test (§5.4): z ~ N(0, 1) under perfect calibration."""

    z: float
    p_value: float  # two-sided


def spiegelhalter(y: npt.ArrayLike, p: npt.ArrayLike) -> Spiegelhalter:
    """Spiegelhalter (1986) z = Σ(y-p)(1-2p) / sqrt(Σ(1-2p)²·p(1-p)) and its two-sided p (§5.4)."""
    ys, ps = _labels_and_probs(y, p)
    var = float(((1 - 2 * ps) ** 2 * ps * (1 - ps)).sum())
    if ys.size == 0 or var == 0:
        return Spiegelhalter(float("nan"), float("nan"))
    z = float(((ys - ps) * (1 - 2 * ps)).sum() / np.sqrt(var))
    return Spiegelhalter(z, float(2 * _norm_sf(abs(z))))


def calibration_in_the_large(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """mean(p) - mean(y) (§5.4): positive when the model over-predicts; NaN if empty."""
    ys, ps = _labels_and_probs(y, p)
    if ys.size == 0:
        return float("nan")
    return float(ps.mean() - ys.mean())


def cost_threshold(cost_fp: float, cost_fn: float) -> float:
    """Bayes-optimal threshold for calibrated probabilities (Elkan 2001; §7): C_FP/(C_FP + C_FN)."""
    return cost_fp / (cost_fp + cost_fn)


def net_benefit(
    tp: npt.ArrayLike, fp: npt.ArrayLike, n: npt.ArrayLike, threshold: float
) -> FloatArray:
    """Net benefit (Vickers & Elkin 2006; §7): TP/n - (FP/n)·p_t/(1 - p_t); NaN where n = 0."""
    tp, fp, n = _f(tp), _f(fp), _f(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = tp / n - fp / n * threshold / (1 - threshold)
    (out,) = _nan_where(n == 0, out)
    return out


def manski_bounds(coverage: npt.ArrayLike, rate_labelled: npt.ArrayLike) -> Interval:
    """Worst-case (Manski 1990) bounds on a rate when a share 1 - r of labels is missing (§5.2).

    [r·rate_L, r·rate_L + (1 - r)]: what the data alone cannot rule out. With no label at all the
    bounds are [0, 1], which is the honest answer.
    """
    r, acc = _f(coverage), _f(rate_labelled)
    low = np.where(r == 0, 0.0, r * acc)
    return Interval(low, np.asarray(low + (1 - r), dtype=np.float64))


class AuditEstimate(NamedTuple):
    """An audit-weighted (Horvitz-Thompson) estimate of a rate and its standard error (§5.2)."""

    estimate: FloatArray
    se: FloatArray


def audit_weighted_rate(
    cases: npt.ArrayLike, labelled: npt.ArrayLike, correct: npt.ArrayLike
) -> AuditEstimate:
    """Horvitz-Thompson rate over strata labelled at known rates π_h = labelled_h/cases_h (§5.2).

    Arrays over strata (last axis): cases N_h, labelled n_h (all of them where the person acted, a
    random audit sample elsewhere) and correct k_h among the labelled. Estimate (1/N)·Σ k_h/π_h;
    SE from stratified sampling without replacement: sqrt(Σ (N_h/N)²·p_h(1-p_h)/n_h·(1 - π_h)).
    NaN where a stratum with cases has no label (the rate there is unknown: use Manski bounds).
    """
    big_n, n, k = _f(cases), _f(labelled), _f(correct)
    total = big_n.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = big_n / total[..., None]
        rate = k / n
        term = np.where(big_n == 0, 0.0, share * rate)
        var = np.where(big_n == 0, 0.0, share**2 * rate * (1 - rate) / n * (1 - n / big_n))
        estimate, se = term.sum(axis=-1), np.sqrt(var.sum(axis=-1))
    unknown = ((big_n > 0) & (n == 0)).any(axis=-1) | (total == 0)
    return AuditEstimate(*_nan_where(unknown, estimate, se))
