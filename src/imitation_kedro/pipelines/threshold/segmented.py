"""Single-break regression search with a sup-F test of "no break" (statsmodels for the fit).

Concepts are sorted by count. A break ``k`` splits them into ``[0, k)`` and ``[k, n)``; it is
admissible when both sides hold at least ``min_segment`` concepts and the counts on either side
of it differ (a model of score as a function of count cannot split equal counts).

* ``constant``: H0 one mean, H1 one mean per side (piecewise-constant; the exact single-break
  L2 answer, i.e. ruptures ``Dynp(n_bkps=1)``).
* ``linear_log``: H0 one line in ``log10(1 + count)``, H1 one line per side (a Chow test).

``F(k) = ((RSS0 - RSS1(k)) / q) / (RSS1(k) / (n - p1))``; the statistic is ``sup_k F(k)``. Its
p-value is Monte-Carlo: permutations of the scores (constant form: scores are exchangeable under
H0) or a residual bootstrap of the H0 line (linear form), ``p = (1 + #{F* >= F}) / (1 + B)``.
RSS are computed from cumulative sums so thousands of null draws are cheap; the fitted model at
the chosen break is then refitted with statsmodels OLS (jump estimate, its standard error, and an
F test that must equal the closed form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BreakResult:
    """The best single break and its test of "no break"."""

    cp: int | None  # index of the first concept of the second segment
    statistic: float  # sup-F
    p_value: float
    mean_before: float | None
    mean_after: float | None
    jump: float | None  # OLS estimate of the step (constant form) at the break
    jump_se: float | None


def admissible_breaks(counts: np.ndarray, min_segment: int) -> np.ndarray:
    """Break indices k (first index of the second segment) allowed by the rules above."""
    n = len(counts)
    ks = np.arange(min_segment, n - min_segment + 1)
    if ks.size == 0:
        return ks
    return ks[np.asarray(counts)[ks - 1] < np.asarray(counts)[ks]]


def _cums(a: np.ndarray) -> np.ndarray:
    zeros = np.zeros((*a.shape[:-1], 1))
    return np.concatenate([zeros, np.cumsum(a, axis=-1)], axis=-1)


def _rss_constant(y: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RSS0, RSS1 per break) for rows of ``y`` (shape (..., n))."""
    n = y.shape[-1]
    yc = y - y.mean(axis=-1, keepdims=True)
    s1, s2 = _cums(yc), _cums(yc * yc)
    rss0 = s2[..., n]
    left = s2[..., ks] - s1[..., ks] ** 2 / ks
    right = (s2[..., n : n + 1] - s2[..., ks]) - (s1[..., n : n + 1] - s1[..., ks]) ** 2 / (n - ks)
    return rss0, left + right


def _line_rss(sx, sy, sxx, sxy, syy, m):
    """RSS of a least-squares line from sums over a segment of m points."""
    cxx = sxx - sx * sx / m
    cxy = sxy - sx * sy / m
    cyy = syy - sy * sy / m
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = np.where(cxx > 1e-12, cxy * cxy / cxx, 0.0)
    return np.maximum(cyy - fit, 0.0)


def _rss_linear(x: np.ndarray, y: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = y.shape[-1]
    xc = x - x.mean()
    yc = y - y.mean(axis=-1, keepdims=True)
    cx, cxx = _cums(xc), _cums(xc * xc)
    cy, cxy, cyy = _cums(yc), _cums(xc * yc), _cums(yc * yc)

    def seg(a, b):  # sums over [a, b); scalar ends kept as length-1 axes to broadcast
        a, b = np.atleast_1d(a), np.atleast_1d(b)
        return [c[..., b] - c[..., a] for c in (cx, cy, cxx, cxy, cyy)]

    rss0 = _line_rss(*[c[..., n] for c in (cx, cy, cxx, cxy, cyy)], n)
    left = _line_rss(*seg(0, ks), ks)
    sx, sy, sxx, sxy, syy = seg(ks, n)
    right = _line_rss(sx, sy, sxx, sxy, syy, n - ks)
    return rss0, left + right


def f_statistics(counts: np.ndarray, y: np.ndarray, ks: np.ndarray, form: str) -> np.ndarray:
    """F(k) for every admissible break (rows of y evaluated independently)."""
    n = y.shape[-1]
    if form == "constant":
        rss0, rss1 = _rss_constant(y, ks)
        q, p1 = 1, 2
    else:
        rss0, rss1 = _rss_linear(np.log10(1.0 + np.asarray(counts, dtype=float)), y, ks)
        q, p1 = 2, 4
    rss0 = np.asarray(rss0)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = ((rss0 - rss1) / q) / (rss1 / (n - p1))
    f = np.where(rss1 <= 1e-300, np.where(rss0 - rss1 > 1e-300, np.inf, 0.0), f)
    return np.nan_to_num(f, nan=0.0)


def best_break(counts: np.ndarray, y: np.ndarray, min_segment: int, form: str) -> int | None:
    """argmax_k F(k) (first maximum), or None when no break is admissible."""
    ks = admissible_breaks(counts, min_segment)
    if ks.size == 0:
        return None
    return int(ks[int(np.argmax(f_statistics(counts, y, ks, form)))])


def _null_draws(counts, y, rng, n_draws, form) -> np.ndarray:
    if form == "constant":
        return np.stack([rng.permutation(y) for _ in range(n_draws)])
    import statsmodels.api as sm

    x = sm.add_constant(np.log10(1.0 + np.asarray(counts, dtype=float)))
    h0 = sm.OLS(y, x).fit()
    resid = h0.resid
    idx = rng.integers(0, len(y), size=(n_draws, len(y)))
    return h0.fittedvalues[None, :] + resid[idx]


def _ols_at_break(
    counts: np.ndarray, y: np.ndarray, cp: int, form: str
) -> tuple[float, float, float]:
    """statsmodels refit at the chosen break: (jump, its SE, the F statistic of H0 vs H1)."""
    import statsmodels.api as sm

    n = len(y)
    step = (np.arange(n) >= cp).astype(float)
    if form == "constant":
        x0 = np.ones((n, 1))
        x1 = np.column_stack([np.ones(n), step])
    else:
        lx = np.log10(1.0 + np.asarray(counts, dtype=float))
        x0 = sm.add_constant(lx)
        x1 = np.column_stack([np.ones(n), lx, step, step * lx])
    full = sm.OLS(y, x1).fit()
    restricted = sm.OLS(y, x0).fit()
    f_value, _, _ = full.compare_f_test(restricted)
    return (
        float(full.params[1] if form == "constant" else full.params[2]),
        float(full.bse[1] if form == "constant" else full.bse[2]),
        float(f_value),
    )


def segmented_test(
    counts: np.ndarray, y: np.ndarray, min_segment: int, form: str, n_permutations: int, seed: int
) -> BreakResult:
    """Best break, sup-F and its Monte-Carlo p-value; cp is None when no break is admissible."""
    y = np.asarray(y, dtype=float)
    counts = np.asarray(counts, dtype=float)
    ks = admissible_breaks(counts, min_segment)
    if ks.size == 0 or np.ptp(y) == 0:
        return BreakResult(None, 0.0, 1.0, None, None, None, None)
    f = f_statistics(counts, y, ks, form)
    j = int(np.argmax(f))
    cp, sup_f = int(ks[j]), float(f[j])
    rng = np.random.default_rng(seed)
    null = _null_draws(counts, y, rng, n_permutations, form)
    null_sup = f_statistics(counts, null, ks, form).max(axis=-1)
    p_value = float((1 + np.sum(null_sup >= sup_f - 1e-12 * abs(sup_f))) / (1 + n_permutations))
    jump, jump_se, _ = _ols_at_break(counts, y, cp, form)
    return BreakResult(
        cp=cp,
        statistic=sup_f,
        p_value=p_value,
        mean_before=float(y[:cp].mean()),
        mean_after=float(y[cp:].mean()),
        jump=jump,
        jump_se=jump_se,
    )
