"""The paper's change-point reading (FIT reference section 6) and a fast exact PELT twin.

``ruptures_breakpoints`` is the headline engine: ``ruptures.Pelt(model="l2", min_size=1,
jump=1).fit(y).predict(pen=0.9)``. ``predict`` returns *exclusive segment ends*, the last one
being ``len(y)``. Reading it the paper's way: drop ``len(y)``; the first remaining value ``cp``
is both the end of the first segment and the 0-based index of the first concept of the second
segment; the threshold is ``round(count_sorted[cp])``. Example: 10 concepts, breakpoints
``[4, 10]`` -> ``cp = 4`` -> the threshold is the count of the 5th concept in ascending order
(in the paper's classical-art data that concept has 112 images, the SD1.1 threshold).

``pelt_l2`` solves the same penalised problem (optimal partitioning with the same admissible
set and the same first-minimum tie rule) in vectorised NumPy; bootstrap and penalty sweeps call
it hundreds of times. Tests check it against ruptures on random sequences, and every run checks
it at the paper's penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from imitation_kedro.core.params import Params


@dataclass(frozen=True)
class PaperReading:
    """What the paper reads off the PELT breakpoints."""

    breakpoints: list[int]  # change points, len(y) dropped
    cp: int | None  # index of the first concept after the first change
    threshold: float | None
    second_cp: int | None
    second_threshold: float | None
    mean_before: float | None
    mean_after: float | None
    outliers: list[str]


def ruptures_breakpoints(
    y: np.ndarray, penalty: float, min_size: int = 1, jump: int = 1
) -> list[int]:
    """Raw ``ruptures.Pelt(model="l2").fit(y).predict(pen)`` (exclusive ends, ``len(y)`` last)."""
    import ruptures  # imported here: only the paper node needs it

    signal = np.asarray(y, dtype=float)
    algo = ruptures.Pelt(model="l2", min_size=min_size, jump=jump).fit(signal)
    return [int(b) for b in algo.predict(pen=penalty)]


_SMALL = 48  # admissible sets up to this size: plain Python floats beat NumPy call overhead


def pelt_l2(y: np.ndarray, penalty: float, min_size: int = 1, jump: int = 1) -> list[int]:
    """ruptures' PELT (L2 cost) step for step, with O(1) segment costs from cumulative sums.

    Mirrors ruptures 1.1.x exactly: the same admissible set, the same first-minimum choice and
    the same pruning (including its pairing of admissible points with sub-problems, which makes
    ruptures inexact when ``min_size > 1``). For ``min_size=1`` (the paper) it is exact PELT.
    Both code paths do the same IEEE operations in the same order.
    """
    signal = np.asarray(y, dtype=float)
    n = signal.shape[0]
    centred = signal - signal.mean()
    c1a = np.concatenate([[0.0], np.cumsum(centred)])
    c2a = np.concatenate([[0.0], np.cumsum(centred * centred)])
    c1, c2 = c1a.tolist(), c2a.tolist()
    best_a = np.full(n + 1, np.nan)  # optimal penalised cost of y[0:t]; NaN = not computed
    best_a[0] = 0.0
    best: list[float | None] = [None] * (n + 1)
    best[0] = 0.0
    previous = [0] * (n + 1)
    ends = [k for k in range(0, n, jump) if k >= min_size] + [n]
    admissible: list[int] = []
    for end in ends:
        admissible.append(((end - min_size) // jump) * jump)
        if len(admissible) <= _SMALL:
            totals: list[float] = []
            starts: list[int] = []
            for t in admissible:
                if best[t] is None:
                    continue
                s1 = c1[end] - c1[t]
                cost = (c2[end] - c2[t]) - s1 * s1 / (end - t)
                totals.append(best[t] + ((cost if cost > 0.0 else 0.0) + penalty))
                starts.append(t)
            j = min(range(len(totals)), key=totals.__getitem__)  # first minimum, as ruptures
            value, start = totals[j], starts[j]
        else:
            adm = np.asarray(admissible)
            usable = adm[~np.isnan(best_a[adm])]
            s1v = c1a[end] - c1a[usable]
            cost_v = (c2a[end] - c2a[usable]) - s1v * s1v / (end - usable)
            total_v = best_a[usable] + (np.maximum(cost_v, 0.0) + penalty)
            j = int(np.argmin(total_v))
            value, start = float(total_v[j]), int(usable[j])
            totals = total_v.tolist()
        best[end] = value
        best_a[end] = value
        previous[end] = start
        # ruptures zips the admissible list with the sub-problems it could build (truncating).
        limit = value + penalty
        admissible = [t for t, total in zip(admissible, totals, strict=False) if total <= limit]
    bkps = []
    t = n
    while t > 0:
        bkps.append(t)
        t = previous[t]
    return sorted(bkps)


def read_paper(
    counts: np.ndarray, scores: np.ndarray, names: list[str], bkps: list[int], outlier_factor: float
) -> PaperReading:
    """Read threshold, second change point, means and outliers off sorted data and breakpoints."""
    n = len(scores)
    cps = [b for b in bkps if b < n]
    if not cps:
        return PaperReading([], None, None, None, None, None, None, [])
    cp = cps[0]
    second = cps[1] if len(cps) > 1 else None
    before = float(np.mean(scores[:cp]))
    after = float(np.mean(scores[cp:]))
    outliers = [names[i] for i in range(cp) if scores[i] > outlier_factor * before]
    return PaperReading(
        breakpoints=cps,
        cp=cp,
        threshold=float(round(float(counts[cp]))),
        second_cp=second,
        second_threshold=None if second is None else float(round(float(counts[second]))),
        mean_before=before,
        mean_after=after,
        outliers=outliers,
    )


def noise_sd(y: np.ndarray) -> float:
    """Robust noise SD from first differences (MAD / sqrt 2), for the BIC-like penalty."""
    diffs = np.diff(np.asarray(y, dtype=float))
    if diffs.size == 0:
        return 0.0
    mad = np.median(np.abs(diffs - np.median(diffs)))
    return float(1.4826 * mad / np.sqrt(2.0))


class PaperParams(Params):
    """The paper's PELT run (FIT reference section 6): ruptures, L2 cost, penalty 0.9."""

    penalty: float = Field(0.9, gt=0)
    min_size: int = Field(1, ge=1)
    jump: int = Field(1, ge=1)
    # outliers: before-cp scores > factor x pre-change mean (reported only)
    outlier_factor: float = 4.0
