"""Intervals and number formatting of the report: Wilson (one model on n test images), Student-t
(mean across seeds), Welch (difference of two objectives' means); percent cells and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` trials (95 % by default)."""
    if n <= 0 or not np.isfinite(p):
        return (np.nan, np.nan)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % Student-t interval across seeds (nan bounds for fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(values.mean())
    if len(values) == 1:
        return (mean, np.nan, np.nan)
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return (mean, mean - half, mean + half)


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``a`` minus mean of ``b`` with a 95 % Welch interval (independent seeds)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return (diff, np.nan, np.nan)
    from scipy import stats

    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return (diff, diff, diff)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, dof) * se
    return (diff, diff - half, diff + half)


def pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}"


def with_ci(mean: float, lo: float, hi: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return pct(mean)
    return f"{pct(mean)} [{pct(lo)}, {pct(hi)}]"


def seed_ci(values: np.ndarray) -> str:
    mean, lo, hi = t_interval(values)
    n = int(np.sum(~np.isnan(np.asarray(values, dtype=float))))
    return f"{with_ci(mean, lo, hi)} (n={n})"


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def wilson_cell(p: float, n: int) -> str:
    return with_ci(p, *wilson(p, n)) if n else pct(p)
