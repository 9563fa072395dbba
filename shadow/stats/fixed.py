"""Fixed-sample statistics: intervals, tests and agreement coefficients for one period's cases.

docs/statistics.md sections 1-3 and 7: the Wilson interval for a share, Newcombe's paired interval
and McNemar's test for the difference between the model and the person, Cohen's kappa and Gwet's
AC1 with their intervals, the beta-binomial confidence sequence for a rate (order-invariant, from
its counts), and the expected cost per case. Vectorised over groups: arrays of counts in, arrays
out. Right for describing the cases of a period, not for deciding after daily looks: those
bounds are in sequential.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

from shadow.stats.common import (
    BoolArray,
    FloatArray,
    Interval,
    _binom_half_cdf,
    _binom_half_pmf,
    _boundary,
    _f,
    _nan_where,
    _z,
)


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
