"""Percentile bootstrap of the threshold (FIT reference section 11, "confidence intervals").

Each draw resamples concepts with replacement and, when per-prompt scores exist and
``nested_prompts`` is on, resamples each drawn concept's prompts with replacement and recomputes
its score as their mean. The draw is re-sorted (count, then concept name, then draw order: rule
F9) and the change point re-detected with the same method. Draws without a change point count
towards ``found_rate`` and are left out of the percentiles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def prompt_matrix(group: pd.DataFrame, prompts: pd.DataFrame) -> list[np.ndarray]:
    """Per concept (in ``group`` order) the array of its per-prompt scores."""
    by_concept = prompts.groupby("concept", sort=False)["score"].apply(np.asarray).to_dict()
    return [by_concept[c] for c in group["concept"]]


def resample_scores(
    rng: np.random.Generator,
    picks: np.ndarray,
    prompt_scores: list[np.ndarray],
    nested: bool,
    concept_scores: np.ndarray,
) -> np.ndarray:
    """Scores of the drawn concepts (prompts re-drawn when ``nested``)."""
    if not nested:
        return concept_scores[picks]
    out = np.empty(len(picks))
    sizes = np.array([len(prompt_scores[i]) for i in picks])
    for size in np.unique(sizes):
        rows = np.flatnonzero(sizes == size)
        if size == 1:
            out[rows] = [prompt_scores[picks[r]][0] for r in rows]
            continue
        mat = np.stack([prompt_scores[picks[r]] for r in rows])
        idx = rng.integers(0, size, size=mat.shape)
        out[rows] = np.take_along_axis(mat, idx, axis=1).mean(axis=1)
    return out


def bootstrap_change(
    group: pd.DataFrame,
    prompts: pd.DataFrame,
    detect: Callable[[np.ndarray, np.ndarray], int | None],
    n_resamples: int,
    nested: bool,
    seed: int,
) -> pd.DataFrame:
    """One row per draw: ``draw``, ``cp`` (index or -1) and ``threshold`` (count or NaN)."""
    counts = group["count"].to_numpy(dtype=float)
    scores = group["score"].to_numpy(dtype=float)
    names = group["concept"].to_numpy()
    prompt_scores = prompt_matrix(group, prompts) if nested else []
    use_nested = nested and any(len(p) > 1 for p in prompt_scores)
    rng = np.random.default_rng(seed)
    n = len(group)
    rows = []
    for draw in range(n_resamples):
        picks = rng.integers(0, n, size=n)
        y = resample_scores(rng, picks, prompt_scores, use_nested, scores)
        order = np.lexsort((np.arange(n), names[picks], counts[picks]))
        x_sorted, y_sorted = counts[picks][order], y[order]
        cp = detect(x_sorted, y_sorted)
        threshold = float(round(float(x_sorted[cp]))) if cp is not None else np.nan
        rows.append((draw, -1 if cp is None else cp, threshold))
    return pd.DataFrame(rows, columns=["draw", "cp", "threshold"])


def percentile_ci(draws: pd.DataFrame, level: float) -> dict[str, float]:
    """Percentile CI of the threshold and of the change index over draws that found one."""
    found = draws[draws["cp"] >= 0]
    rate = float(len(found) / len(draws)) if len(draws) else float("nan")
    if found.empty:
        return {
            "ci_low": np.nan,
            "ci_high": np.nan,
            "cp_ci_low": np.nan,
            "cp_ci_high": np.nan,
            "boot_found_rate": rate,
        }
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo, hi = np.percentile(found["threshold"], q)
    clo, chi = np.percentile(found["cp"], q)
    return {
        "ci_low": float(lo),
        "ci_high": float(hi),
        "cp_ci_low": float(clo),
        "cp_ci_high": float(chi),
        "boot_found_rate": rate,
    }
