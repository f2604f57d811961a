"""Intervals and number formatting of the report, by statsmodels: Wilson (one model on n test
images), Student-t (mean across seeds), Welch (difference of two objectives' means).

Every interval stays inside the range its quantity can take (an accuracy in [0, 1], a change of
accuracy in [-1, 1], ...); across seeds there is no interval below ``MIN_SEEDS`` seeds, and the
cell says so. Numbers print in percent; tables are ``DataFrame.to_markdown``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALPHA = 0.05  # 95 % intervals
MIN_SEEDS = 3  # t(0.975, 1) = 12.7: with 2 seeds the interval only says "anything"
FRACTION = (0.0, 1.0)  # an accuracy or an ASR
CHANGE = (-1.0, 1.0)  # the difference of two fractions
CHANGE_OF_CHANGE = (-2.0, 2.0)  # the difference of two changes

Bounds = tuple[float, float]
NAN3 = (np.nan, np.nan, np.nan)


def _clip(lo: float, hi: float, bounds: Bounds | None) -> tuple[float, float]:
    if bounds is None:
        return float(lo), float(hi)
    return float(np.clip(lo, *bounds)), float(np.clip(hi, *bounds))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[~np.isnan(values)]


def wilson(p: float, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``p`` observed on ``n`` trials."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0 or not np.isfinite(p):
        return (np.nan, np.nan)
    lo, hi = proportion_confint(round(p * n), n, alpha=ALPHA, method="wilson")
    return float(lo), float(hi)


def t_interval(values: np.ndarray, bounds: Bounds | None = None) -> tuple[float, float, float]:
    """Mean and 95 % Student-t interval across seeds, clipped to ``bounds``; nan bounds below
    ``MIN_SEEDS`` values."""
    from statsmodels.stats.weightstats import DescrStatsW

    values = _finite(values)
    if len(values) == 0:
        return NAN3
    mean = float(values.mean())
    if len(values) < MIN_SEEDS:
        return (mean, np.nan, np.nan)
    return (mean, *_clip(*DescrStatsW(values).tconfint_mean(alpha=ALPHA), bounds))


def welch_interval(
    a: np.ndarray, b: np.ndarray, bounds: Bounds | None = None
) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` with a 95 % Welch interval (independent seeds), clipped
    to ``bounds``; nan bounds when either side has fewer than ``MIN_SEEDS`` values."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    a, b = _finite(a), _finite(b)
    if len(a) == 0 or len(b) == 0:
        return NAN3
    diff = float(a.mean() - b.mean())
    if min(len(a), len(b)) < MIN_SEEDS:
        return (diff, np.nan, np.nan)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # Welch's degrees of freedom are 0/0: exact point
        return (diff, diff, diff)
    compare = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    return (diff, *_clip(*compare.tconfint_diff(alpha=ALPHA, usevar="unequal"), bounds))


def too_few(n: int) -> str:
    """The note that replaces an interval across ``n`` seeds."""
    return f"n={n} seed{'s' if n != 1 else ''}: too few for an interval"


def pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}"


def with_ci(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return pct(mean)
    return f"{pct(mean)} [{pct(lo)}, {pct(hi)}]"


def seed_ci(values: np.ndarray, bounds: Bounds = FRACTION) -> str:
    """``mean [95 % t-interval] (n=k)``, or the mean and why there is no interval."""
    n = len(_finite(values))
    mean, lo, hi = t_interval(values, bounds)
    if n and n < MIN_SEEDS:
        return f"{pct(mean)} ({too_few(n)})"
    return f"{with_ci(mean, lo, hi)} (n={n})"


def markdown_table(df: pd.DataFrame) -> str:
    """A pipe table; cells keep the text they were formatted to, floats print with 3 digits."""
    return df.to_markdown(index=False, disable_numparse=True, floatfmt=".3g")


def wilson_cell(p: float, n: int) -> str:
    return with_ci(p, *wilson(p, n)) if n else pct(p)
