"""What the statistics share: array types, the interval type, and a few small helpers.

Conventions (docs/statistics.md, "Conventions"): count arguments are array-likes that broadcast
together; results are float64 arrays of the broadcast shape. Where there is no evidence (n = 0, or a
quantity undefined) the result is NaN, which the caller shows as "no evidence yet", never 0.

scipy.stats costs every process that imports it about 0.7 s, more than a daily refresh's whole
computation of the numbers: what the product needs is in scipy.special.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

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
