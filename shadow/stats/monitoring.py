"""Monitoring a model that runs: the Bernoulli CUSUM on its errors, and the PSI of its scores.

docs/statistics.md section 6.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from shadow.stats.common import FloatArray, _f

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
