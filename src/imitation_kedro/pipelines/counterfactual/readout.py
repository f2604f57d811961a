"""Each probe's threshold read off its dose-response curve, two ways, and the domain's aggregate.

* ``pelt``: FIT's own reading (:mod:`imitation_kedro.core.changepoint`, the threshold pipeline's
  detector at its ``params:threshold.paper`` settings) on the probe's points sorted by count,
  every (level, seed) a point, as FIT sorts concepts: the count at the first change point.
* ``reach``: no PELT. The smallest level from which the probe's seed-mean score stays at or
  above a target: FIT's after-change level in that domain minus ``reach_noise_k`` times the
  spread of FIT's after-change concept scores (the level FIT calls "imitated"); where FIT found no
  change, half-way between the probe's own scores at the lowest and the highest level.
  A probe that never reaches the target has threshold ``inf`` (above the ladder).

The domain threshold is the geometric median over probes (an element when the middle two agree); its interval a percentile bootstrap
that resamples probes and, within each, training seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.changepoint import pelt_l2, read_paper
from imitation_kedro.core.seeding import stable_seed

DEFINITIONS = ("pelt", "reach")  # per probe
POOLED = "pelt_pooled"  # per domain: every probe's points in one sequence, as FIT pools concepts
PROBE_THRESHOLD_COLUMNS = [
    "domain", "concept", "true_image_count", "definition", "status", "threshold", "target",
    "reach_reference", "mean_before", "mean_after", "n_points",
]
DOMAIN_THRESHOLD_COLUMNS = [
    "domain", "definition", "threshold", "ci_low", "ci_high", "ci_level", "found_rate",
    "n_probes", "n_seeds", "n_resamples",
]


def pelt_threshold(levels: np.ndarray, seeds: np.ndarray, scores: np.ndarray, paper: dict[str, Any]) -> dict[str, Any]:
    """FIT's reading on one curve: points sorted by (level, seed); the count at the first change."""
    order = np.lexsort((seeds, levels))
    counts, y = levels[order].astype(float), scores[order].astype(float)
    bkps = pelt_l2(y, float(paper["penalty"]), int(paper["min_size"]), int(paper["jump"]))
    reading = read_paper(counts, y, [str(i) for i in range(len(y))], bkps, float(paper["outlier_factor"]))
    if reading.cp is None:
        return {"status": "no_change", "threshold": math.nan, "mean_before": math.nan, "mean_after": math.nan}
    return {"status": "threshold", "threshold": reading.threshold,
            "mean_before": reading.mean_before, "mean_after": reading.mean_after}


def seed_means(levels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ladder levels (ascending) and the mean score over seeds at each."""
    uniq = np.unique(levels)
    return uniq, np.asarray([scores[levels == v].mean() for v in uniq])


def own_target(levels: np.ndarray, scores: np.ndarray) -> float:
    """Half-way between the probe's seed-mean score at the lowest and at the highest level."""
    _, means = seed_means(levels, scores)
    return float(means[0] + means[-1]) / 2


def reach_threshold(levels: np.ndarray, scores: np.ndarray, target: float) -> float:
    """Smallest level from which the seed-mean curve stays >= ``target``; ``inf`` if never."""
    uniq, means = seed_means(levels, scores)
    ok = means >= target
    if not ok[-1]:
        return math.inf
    first = len(ok) - int(np.argmin(ok[::-1])) if not ok.all() else 0
    return float(uniq[first])


def reach_target(fit_ref: dict[str, Any] | None, levels: np.ndarray, scores: np.ndarray, k: float) -> tuple[float, str]:
    """FIT's after-change level minus k spreads when FIT has one, else the probe's own midpoint."""
    if fit_ref is not None and np.isfinite(fit_ref.get("mean_after", math.nan)):
        return float(fit_ref["mean_after"]) - k * float(fit_ref["sd_after"]), f"fit_{fit_ref['fit_method']}"
    return own_target(levels, scores), "own_midpoint"


def read_probe(curve: pd.DataFrame, fit_ref: dict[str, Any] | None, paper: dict[str, Any], k: float) -> list[dict[str, Any]]:
    """Both readings of one probe's curve (rows ``level``, ``train_seed``, ``score``)."""
    levels = curve["level"].to_numpy(dtype=float)
    seeds = curve["train_seed"].to_numpy()
    scores = curve["score"].to_numpy(dtype=float)
    base = {"n_points": len(curve), "reach_reference": "", "target": math.nan}
    pelt = {**base, "definition": "pelt", **pelt_threshold(levels, seeds, scores, paper)}
    target, source = reach_target(fit_ref, levels, scores, k)
    value = reach_threshold(levels, scores, target)
    reach = {**base, "definition": "reach", "status": "threshold" if np.isfinite(value) else "not_reached",
             "threshold": value, "target": target, "reach_reference": source,
             "mean_before": math.nan, "mean_after": math.nan}
    return [pelt, reach]


def geometric_median(values: np.ndarray) -> float:
    """``exp(median(log v))`` over the finite-or-inf values (NaN = not found, left out)."""
    v = np.sort(values[~np.isnan(values)])
    if v.size == 0:
        return math.nan
    a, b = float(v[(v.size - 1) // 2]), float(v[v.size // 2])
    return a if a == b else (math.inf if math.isinf(b) else math.sqrt(a * b))


def _quantile(draws: np.ndarray, q: float) -> float:
    d = draws[~np.isnan(draws)]
    return float(np.quantile(d, q, method="inverted_cdf")) if d.size else math.nan


def bootstrap_domain(
    curves: dict[str, pd.DataFrame], fit_ref: dict[str, Any] | None, paper: dict[str, Any],
    k: float, n_resamples: int, seed: int, domain: str,
) -> dict[str, np.ndarray]:
    """Per definition, ``n_resamples`` domain thresholds from probes and seeds drawn with replacement."""
    rng = np.random.default_rng(stable_seed(seed, "counterfactual", "bootstrap", domain))
    names = sorted(curves)
    seeds = {n: np.unique(curves[n]["train_seed"].to_numpy()) for n in names}
    out = {d: np.full(n_resamples, math.nan) for d in (*DEFINITIONS, POOLED)}
    cache: dict[tuple, tuple[pd.DataFrame, list[dict[str, Any]]]] = {}
    for b in range(n_resamples):
        values: dict[str, list[float]] = {d: [] for d in DEFINITIONS}
        pooled = []
        for n, i in enumerate(rng.integers(len(names), size=len(names))):
            name = names[int(i)]
            drawn = tuple(sorted(rng.choice(seeds[name], size=len(seeds[name]), replace=True).tolist()))
            if (name, drawn) not in cache:
                c = curves[name]
                curve = pd.concat([c[c["train_seed"] == s].assign(train_seed=j) for j, s in enumerate(drawn)])
                cache[(name, drawn)] = (curve, read_probe(curve, fit_ref, paper, k))
            curve, rows = cache[(name, drawn)]
            pooled.append(curve.assign(train_seed=curve["train_seed"] + n * len(drawn)))
            for row in rows:
                values[row["definition"]].append(row["threshold"])
        for d in DEFINITIONS:
            out[d][b] = geometric_median(np.asarray(values[d], dtype=float))
        out[POOLED][b] = pooled_threshold(pd.concat(pooled), paper)
    return out


def pooled_threshold(curves: pd.DataFrame, paper: dict[str, Any]) -> float:
    """FIT's reading on every probe's (level, seed) points of a domain sorted by count together."""
    return float(pelt_threshold(curves["level"].to_numpy(dtype=float), curves["train_seed"].to_numpy(),
                                curves["score"].to_numpy(dtype=float), paper)["threshold"])


def domain_row(domain: str, definition: str, probe_values: np.ndarray, draws: np.ndarray, level: float, n_seeds: int) -> dict[str, Any]:
    """Aggregate and interval of one (domain, definition)."""
    alpha = (1 - level) / 2
    return {
        "domain": domain, "definition": definition, "threshold": geometric_median(probe_values),
        "ci_low": _quantile(draws, alpha) if draws.size else math.nan,
        "ci_high": _quantile(draws, 1 - alpha) if draws.size else math.nan,
        "ci_level": level, "found_rate": float(np.isfinite(probe_values).mean()) if probe_values.size else 0.0,
        "n_probes": int(probe_values.size), "n_seeds": n_seeds, "n_resamples": int(draws.size),
    }
