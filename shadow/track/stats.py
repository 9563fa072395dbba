"""Every statistic the track record needs, vectorised over groups: arrays of counts in, arrays out.

The specification is /work/shared/STATISTICS.md (section numbers below refer to it). Where it names a
library call we use it; what it says to implement is implemented here and tested against its oracles.

Conventions:
- Count arguments (k, n, a, b, c, d, ...) are array-likes that broadcast together; results are float64
  arrays of the broadcast shape (0-d for scalar input; use ``float(x)``).
- No evidence, no number: where n = 0 (or a quantity is undefined, such as kappa when both raters use
  one label) the result is NaN, which the caller shows as "no evidence yet". Never 0.
- Streams (PrPl-EB and the e-value stream, which depend on order) take a 1-D array in the order labels
  matured. ``groups`` (optional, same length) holds a group id per element with each group's elements
  contiguous; every group is then computed as its own stream in one vectorised pass. The CUSUM takes
  one stream at a time (it restarts after each alarm).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

# scipy.stats costs every process that imports it about 0.7 s, more than a daily refresh's
# whole computation of the numbers; what the refresh needs is in scipy.special (_norm_ppf,
# _norm_sf, _binom_*, _chi2_sf below), and the rest of this module imports scipy.stats where used.

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Interval(NamedTuple):
    """A two-sided interval; both ends NaN where there is no evidence."""

    low: FloatArray
    high: FloatArray


def _f(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _z(alpha: float) -> float:
    return float(special.ndtri(1 - alpha / 2))  # the normal quantile, as stats.norm.ppf


def _norm_sf(z: npt.ArrayLike) -> FloatArray:
    """The normal upper tail, as stats.norm.sf."""
    return np.asarray(special.ndtr(-np.asarray(z, dtype=np.float64)), dtype=np.float64)


def _binom_half_cdf(k: FloatArray, n: FloatArray) -> FloatArray:
    """P(X <= k) for X ~ Binomial(n, 1/2), as stats.binom.cdf (0 for k < 0, 1 for k >= n)."""
    k = np.floor(k)
    whole = np.nan_to_num(np.broadcast_to(n, np.shape(k)), nan=0.0).astype(np.int64)
    inside = special.bdtr(np.clip(k, 0, whole).astype(np.int64), whole, 0.5)
    return np.asarray(np.where(k < 0, 0.0, np.where(k >= n, 1.0, inside)), dtype=np.float64)


def _binom_half_pmf(k: FloatArray, n: FloatArray) -> FloatArray:
    """P(X = k) for X ~ Binomial(n, 1/2), as stats.binom.pmf: on the shorter tail, where a
    difference of two neighbouring cdfs loses nothing."""
    m = np.minimum(k, n - k)  # the distribution is symmetric
    pmf = _binom_half_cdf(m, n) - _binom_half_cdf(m - 1, n)
    return np.asarray(np.where((k < 0) | (k > n), 0.0, pmf), dtype=np.float64)


def _nan_where(mask: npt.ArrayLike, *arrays: FloatArray) -> list[FloatArray]:
    m = np.asarray(mask, dtype=bool)
    return [np.where(m, np.nan, a) for a in arrays]


def _boundary(
    inside: Callable[[FloatArray], BoolArray],
    out_end: FloatArray,
    in_end: FloatArray,
    iterations: int = 64,
) -> FloatArray:
    """Vectorised bisection for the edge of a set, between a point outside and one inside it.

    Where ``out_end`` is itself inside the set, the edge is ``out_end``. 64 halvings of an interval
    of length <= 2 leave an error below 1e-18.
    """
    out_end, in_end = np.broadcast_arrays(_f(out_end), _f(in_end))
    lo, hi = out_end.copy(), in_end.copy()
    already_in = inside(out_end)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        ok = inside(mid)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(already_in, out_end, hi)


# --- §1 One proportion ------------------------------------------------------------------------------


def wilson(k: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05) -> Interval:
    """Wilson score interval for k successes in n (§1), two-sided at level alpha.

    Equals statsmodels ``proportion_confint(method="wilson")``; clipped to [0, 1] as it is.
    """
    k, n = _f(k), _f(n)
    z = _z(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    # at k = 0 or k = n the formula lands one rounding step off 0 or 1; the interval must hold p
    low, high = np.minimum(low, p), np.maximum(high, p)
    return Interval(*_nan_where(n == 0, low, high))


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


# --- §2 Paired comparison of model and person on the same cases -------------------------------------
# The paired 2x2 table: a = both right, b = model right / person wrong, c = model wrong / person right,
# d = both wrong. Δ = accuracy(model) - accuracy(person) = (b - c)/n.


def newcombe(
    a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike, d: npt.ArrayLike, alpha: float = 0.05
) -> Interval:
    """Newcombe's method 10 interval for the paired difference Δ (§2.2a), with the corrected phi.

    Square-and-add of the two Wilson intervals; phi uses the n/2 continuity correction as in
    Fagerland's ``contingencytables`` and Altman et al. (2000).
    """
    a, b, c, d = _f(a), _f(b), _f(c), _f(d)
    n = a + b + c + d
    l1, u1 = wilson(a + b, n, alpha)
    l2, u2 = wilson(a + c, n, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = (a + b) / n, (a + c) / n
        big_a = a * d - b * c
        margins = (a + b) * (c + d) * (a + c) * (b + d)
        root = np.sqrt(margins)
        phi = np.where(
            margins == 0,
            0.0,
            np.where(
                big_a > n / 2, (big_a - n / 2) / root, np.where(big_a >= 0, 0.0, big_a / root)
            ),
        )
        delta = p1 - p2
        low = delta - np.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
        high = delta + np.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
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


class McNemar(NamedTuple):
    """McNemar p-values from the discordant cells b and c (§2.1); NaN when b + c = 0."""

    exact: FloatArray
    mid_p: FloatArray
    asymptotic: FloatArray
    asymptotic_cc: FloatArray
    exact_one_sided: FloatArray  # H1: model better (b large)
    mid_p_one_sided: FloatArray


def mcnemar(b: npt.ArrayLike, c: npt.ArrayLike) -> McNemar:
    """McNemar's test of equal accuracy (§2.1): exact, mid-p (recommended), asymptotic, with CC.

    The exact p equals statsmodels ``mcnemar(table, exact=True)``; statsmodels has no mid-p.
    """
    b, c = _f(b), _f(c)
    total = b + c
    k = np.minimum(b, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf = _binom_half_cdf(k, total)
        exact = np.minimum(1.0, 2 * cdf)
        mid_p = 2 * cdf - _binom_half_pmf(k, total)
        chi = special.chdtrc(1, (b - c) ** 2 / total)  # chi-squared upper tail, 1 df
        chi_cc = special.chdtrc(1, (np.abs(b - c) - 1) ** 2 / total)
        # P(X >= b) = P(X <= total - b) by symmetry, on the tail that keeps its digits
        one = _binom_half_cdf(total - b, total)
        one_mid = _binom_half_cdf(total - b - 1, total) + _binom_half_pmf(b, total) / 2
    return McNemar(*_nan_where(total == 0, exact, mid_p, chi, chi_cc, one, one_mid))


# --- §3 Agreement between model and person -----------------------------------------------------------
# Tables are (..., q, q) arrays of counts: rows = model's label, columns = person's label, same order.


class Agreement(NamedTuple):
    """An agreement coefficient with its standard error and normal-quantile interval."""

    estimate: FloatArray
    se: FloatArray
    low: FloatArray
    high: FloatArray


def _proportions(table: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    t = _f(table)
    n = t.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = t / n[..., None, None]
    return p, n, np.trace(p, axis1=-2, axis2=-1)


def cohen_kappa(table: npt.ArrayLike, alpha: float = 0.05) -> Agreement:
    """Cohen's kappa with the Fleiss-Cohen-Everitt (1969) SE, as statsmodels ``cohens_kappa`` (§3).

    Vectorised over stacked tables; tested against statsmodels. NaN where n = 0 or p_e = 1.
    """
    p, n, po = _proportions(table)
    rows, cols = p.sum(axis=-1), p.sum(axis=-2)
    pe = (rows * cols).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (po - pe) / (1 - pe)
        k1 = (1 - kappa)[..., None]
        diag = np.diagonal(p, axis1=-2, axis2=-1)
        term_a = (diag * (1 - (rows + cols) * k1) ** 2).sum(axis=-1)
        weights = (cols[..., :, None] + rows[..., None, :]) ** 2
        off = p * weights
        off_sum = off.sum(axis=(-2, -1)) - (np.diagonal(off, axis1=-2, axis2=-1)).sum(axis=-1)
        term_b = (1 - kappa) ** 2 * off_sum
        term_c = (kappa - pe * (1 - kappa)) ** 2
        se = np.sqrt((term_a + term_b - term_c) / (1 - pe) ** 2 / n)
    z = _z(alpha)
    bad = (n == 0) | ~np.isfinite(kappa)
    # the normal interval can leave kappa's range at small n: clip it to [-1, 1]
    low, high = np.clip(kappa - z * se, -1, 1), np.clip(kappa + z * se, -1, 1)
    return Agreement(*_nan_where(bad, kappa, se, low, high))


def gwet_ac1(table: npt.ArrayLike, alpha: float = 0.05) -> Agreement:
    """Gwet's AC1 with its SE (Gwet 2008, no finite-population factor) and a normal interval (§3).

    Stays high where one label dominates (the kappa paradox); show specific agreement next to it.
    """
    p, n, po = _proportions(table)
    q = p.shape[-1]
    pi = (p.sum(axis=-1) + p.sum(axis=-2)) / 2
    pe = (pi * (1 - pi)).sum(axis=-1) / (q - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ac1 = (po - pe) / (1 - pe)
        diag = np.diagonal(p, axis1=-2, axis2=-1)
        s1 = (diag * (1 - pi)).sum(axis=-1) / (q - 1)
        w = (1 - (pi[..., :, None] + pi[..., None, :]) / 2) ** 2
        s2 = (p * w).sum(axis=(-2, -1)) / (q - 1) ** 2
        var = (
            po * (1 - po) - 4 * (1 - ac1) * (s1 - po * pe) + 4 * (1 - ac1) ** 2 * (s2 - pe * pe)
        ) / (n * (1 - pe) ** 2)
        se = np.sqrt(var)
    z = _z(alpha)
    bad = (n == 0) | ~np.isfinite(ac1)
    low, high = np.clip(ac1 - z * se, -1, 1), np.clip(ac1 + z * se, -1, 1)
    return Agreement(*_nan_where(bad, ac1, se, low, high))


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


# --- §4.3 Anytime-valid: counts (order-invariant) ----------------------------------------------------


def beta_binomial_cs(s: npt.ArrayLike, n: npt.ArrayLike, alpha: float = 0.05) -> Interval:
    """Two-sided beta-binomial(1,1) mixture confidence sequence for a rate, from S successes in n (§4.3 i).

    {p : S·ln p + (n-S)·ln(1-p) > ln alpha + ln B(S+1, n-S+1)}. Valid however often it is looked at;
    depends only on the counts, so labels may arrive in any order.
    """
    s, n = np.broadcast_arrays(_f(s), _f(n))
    threshold = np.log(alpha) + special.betaln(s + 1, n - s + 1)

    def inside(p: FloatArray) -> BoolArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(special.xlogy(s, p) + special.xlog1py(n - s, -p) > threshold)

    with np.errstate(divide="ignore", invalid="ignore"):
        p_hat = np.where(n == 0, 0.5, s / n)
    low = _boundary(inside, np.zeros_like(p_hat), p_hat)
    high = _boundary(inside, np.ones_like(p_hat), p_hat)
    return Interval(*_nan_where(n == 0, low, high))


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


# --- §4.3 Anytime-valid: streams (order matters) -----------------------------------------------------


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


def prpl_eb_paired(
    d: npt.ArrayLike, alpha: float = 0.05, groups: npt.ArrayLike | None = None
) -> PrplEB:
    """PrPl-EB for Δ from paired differences D = model right - person right ∈ {-1, 0, 1} (§4.3 iii).

    Runs on X = (D + 1)/2 and maps back with Δ = 2μ - 1, so the bounds are on the Δ scale [-1, 1].
    """
    cs = prpl_eb((_f(d) + 1) / 2, alpha, groups)
    return PrplEB(2 * cs.low - 1, 2 * cs.high - 1, 2 * cs.lower - 1)


def beta_mixture_evalue_stream(
    correct: npt.ArrayLike, p0: float, groups: npt.ArrayLike | None = None
) -> FloatArray:
    """E_t of the one-sided beta-mixture e-process after each element of a 0/1 stream (§4.3 ii)."""
    xs = _f(correct)
    t, starts = _positions(xs.shape[0], groups)
    return beta_mixture_evalue(_cumsum(xs, starts), t, p0)


# --- §4.4 Evidence needed ("the price of peeking") ---------------------------------------------------


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
    row of STATISTICS.md's "price of peeking" table (e.g. 0.90 → 0.85: 395 at alpha = 0.05, 535 at
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
    at level alpha is above -margin. Reproduces STATISTICS.md's planning values for δ = 0.05, alpha = 0.05:
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


# --- §4.2 Group-sequential spending (for reference) --------------------------------------------------


def obrien_fleming_spending(t: npt.ArrayLike, alpha: float = 0.05) -> FloatArray:
    """Lan-DeMets O'Brien-Fleming-type cumulative alpha spent at information fraction t (§4.2)."""
    from scipy import stats

    with np.errstate(divide="ignore"):
        return np.asarray(2 - 2 * stats.norm.cdf(_z(alpha) / np.sqrt(_f(t))), dtype=np.float64)


def pocock_spending(t: npt.ArrayLike, alpha: float = 0.05) -> FloatArray:
    """Lan-DeMets Pocock-type cumulative alpha spent at information fraction t (§4.2)."""
    return np.asarray(alpha * np.log1p((np.e - 1) * _f(t)), dtype=np.float64)


# --- §6 Drift and decline ----------------------------------------------------------------------------


_CUSUM_BLOCK = 4096  # the longest block; 64 the shortest (see bernoulli_cusum)


def cusum_weights(p0: float, p1: float) -> tuple[float, float]:
    """Bernoulli CUSUM weights (§6.2): (ln(p1/p0) for an error, ln((1-p1)/(1-p0)) for a right case)."""
    return float(np.log(p1 / p0)), float(np.log((1 - p1) / (1 - p0)))


class Cusum(NamedTuple):
    """A Bernoulli CUSUM run: the statistic after every case, and where it alarmed (0-based)."""

    s: FloatArray
    alarms: npt.NDArray[np.intp]


# The CUSUM adds whole steps of CUSUM_STEP (2^-40, about 1e-12): its sums are exact, so a chart
# continued from a saved value (bernoulli_cusum's `start`) is the same, to the last bit, as one
# run over the whole stream, however either is cut into blocks.
CUSUM_STEP = 2.0**-40


def bernoulli_cusum(
    errors: npt.ArrayLike, p0: float, p1: float, h: float = float("inf"), start: float = 0.0
) -> Cusum:
    """Bernoulli CUSUM on a stream of errors (1 = model wrong) for a rise from p0 to p1 (§6.2).

    S_t = max(0, S_{t-1} + W_t); an alarm where S_t >= h, after which S restarts from 0. Vectorised
    between alarms with S_t = C_t - min(0, min_{s<=t} C_s), C the cumulative weight since the restart.
    `start` is S before the first element (a chart continued from an earlier run). The weights are
    rounded to whole CUSUM_STEPs, so the sums are exact.
    """
    e = _f(errors)
    w_err, w_ok = (round(w / CUSUM_STEP) for w in cusum_weights(p0, p1))
    w = np.where(e > 0, w_err, w_ok).astype(np.int64)
    s = np.empty(w.shape, dtype=np.int64)
    alarms: list[int] = []
    # a block at a time, carrying S over: with C the cumulative weight since the block's start
    # and S0 the statistic before it, S_t = C_t - min(-S0, min_{s<=t} C_s). An alarm restarts the
    # chart, and the next block, after it. The blocks follow the gaps between alarms (twice the
    # last gap, within 64.._CUSUM_BLOCK), so that a stream alarming every few dozen cases does not
    # compute a long block per alarm: the work grows with the cases, not with cases x alarms.
    first, s0, block = 0, round(start / CUSUM_STEP), _CUSUM_BLOCK
    while first < w.size:
        c = np.cumsum(w[first : first + block])
        seg = c - np.minimum(-s0, np.minimum.accumulate(c))
        hit = np.flatnonzero(seg * CUSUM_STEP >= h)
        stop = first + (int(hit[0]) + 1 if hit.size else seg.size)
        s[first:stop] = seg[: stop - first]
        if hit.size:
            alarms.append(stop - 1)
            s0 = 0
            block = min(max(2 * (stop - first), 64), _CUSUM_BLOCK)
        else:
            s0 = int(seg[-1])
            block = min(2 * block, _CUSUM_BLOCK)
        first = stop
    return Cusum(s.astype(np.float64) * CUSUM_STEP, np.asarray(alarms, dtype=np.intp))


def psi_from_shares(
    expected: npt.ArrayLike, actual: npt.ArrayLike, eps: float = 1e-4
) -> FloatArray:
    """Population stability index Σ (a - e)·ln(a/e) over the last axis of bin shares (§6.1).

    Shares below eps are raised to eps so that an empty bin counts without dividing by zero.
    """
    e = np.maximum(_f(expected), eps)
    a = np.maximum(_f(actual), eps)
    return np.asarray(((a - e) * np.log(a / e)).sum(axis=-1), dtype=np.float64)


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


# --- §5.4 Calibration --------------------------------------------------------------------------------


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


# --- §7 Cost -----------------------------------------------------------------------------------------


def expected_cost(
    tp: npt.ArrayLike,
    fp: npt.ArrayLike,
    fn: npt.ArrayLike,
    tn: npt.ArrayLike,
    cost_fn: float,
    cost_fp: float,
    cost_tp: float = 0.0,
    cost_tn: float = 0.0,
) -> FloatArray:
    """Expected cost per case (§7): (C_FN·FN + C_FP·FP + C_TP·TP + C_TN·TN)/n; NaN where n = 0."""
    tp, fp, fn, tn = _f(tp), _f(fp), _f(fn), _f(tn)
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (cost_fn * fn + cost_fp * fp + cost_tp * tp + cost_tn * tn) / n
    (out,) = _nan_where(n == 0, out)
    return out


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


# --- §5.2 Selective labels ---------------------------------------------------------------------------


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
