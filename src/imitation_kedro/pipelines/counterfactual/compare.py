"""FIT's estimate from the ordinary run beside the counterfactual threshold, and FIT on subsamples."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.changepoint import pelt_l2, read_paper
from imitation_kedro.core.seeding import stable_seed

FIT_REFERENCE_COLUMNS = [
    "domain", "fit_method", "fit_status", "fit_threshold", "fit_ci_low", "fit_ci_high",
    "mean_after", "sd_after", "n_concepts",
]
COMPARISON_COLUMNS = [
    "domain", "fit_method", "definition", "fit_threshold", "fit_ci_low", "fit_ci_high",
    "cf_threshold", "cf_ci_low", "cf_ci_high", "difference", "ratio", "fit_in_cf_interval",
    "cf_in_fit_interval", "verdict",
]
SUBSAMPLE_COLUMNS = ["domain", "fraction", "n_concepts", "draw", "status", "threshold"]


def concept_table(scores: pd.DataFrame, frequencies: pd.DataFrame, count_column: str, model: str) -> pd.DataFrame:
    """FIT's per-concept points: ``domain, concept, count, score`` of ``model``, sorted as FIT sorts."""
    if count_column not in frequencies.columns:
        raise ValueError(
            f"prm_concept_frequencies has no column {count_column!r} (threshold.count_column); "
            f"columns: {sorted(frequencies.columns)}"
        )
    s = scores[scores["model"] == model][["concept", "domain", "score"]]
    table = s.merge(frequencies[["concept", count_column]], on="concept", how="inner", validate="one_to_one")
    table = table.rename(columns={count_column: "count"})
    table = table[np.isfinite(table["count"].astype(float)) & np.isfinite(table["score"].astype(float))]
    return table.sort_values(["domain", "count", "concept"], kind="stable").reset_index(drop=True)


def fit_reference(thresholds: pd.DataFrame, concepts: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per (domain, FIT method): FIT's threshold and interval, and its after-change level and spread."""
    rows = []
    for t in thresholds[thresholds["model"] == model].itertuples(index=False):
        dom = concepts[concepts["domain"] == t.domain]
        found = t.status == "threshold" and np.isfinite(t.threshold)
        after = dom[dom["count"] >= t.threshold]["score"] if found else pd.Series(dtype=float)
        rows.append({
            "domain": t.domain, "fit_method": t.method, "fit_status": t.status,
            "fit_threshold": float(t.threshold) if found else math.nan,
            "fit_ci_low": float(t.ci_low) if found else math.nan,
            "fit_ci_high": float(t.ci_high) if found else math.nan,
            "mean_after": float(after.mean()) if len(after) else math.nan,
            "sd_after": float(after.std(ddof=1)) if len(after) > 1 else 0.0,
            "n_concepts": int(len(dom)),
        })
    return pd.DataFrame(rows, columns=FIT_REFERENCE_COLUMNS)


def _inside(x: float, lo: float, hi: float) -> bool:
    return bool(np.isfinite(x) and np.isfinite(lo) and lo <= x <= hi) or bool(
        np.isinf(x) and np.isinf(hi) and x == hi
    )


def verdict(fit: float, cf: float, fit_in: bool, cf_in: bool) -> str:
    """One plain sentence on whether FIT's estimate held against the counterfactual."""
    if not np.isfinite(fit):
        return "FIT found no threshold here"
    if np.isnan(cf):
        return "the counterfactual curves show no change: nothing to compare"
    if np.isinf(cf):
        return "held not: the probes never reach the imitated level on the ladder"
    if fit_in or cf_in:
        return "held: FIT's estimate and the counterfactual threshold agree within their intervals"
    side = "over" if fit > cf else "under"
    return f"held not: FIT {side}-estimates the counterfactual threshold by x{max(fit, cf) / min(fit, cf):.2g}"


def comparison(domain_thresholds: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Per (domain, FIT method, counterfactual definition): difference, ratio, interval inclusion."""
    rows = []
    merged = reference.merge(domain_thresholds, on="domain", how="inner")
    for r in merged.itertuples(index=False):
        fit, cf = float(r.fit_threshold), float(r.threshold)
        fit_in = _inside(fit, r.ci_low, r.ci_high)
        cf_in = _inside(cf, r.fit_ci_low, r.fit_ci_high)
        both = np.isfinite(fit) and np.isfinite(cf) and cf > 0
        rows.append({
            "domain": r.domain, "fit_method": r.fit_method, "definition": r.definition,
            "fit_threshold": fit, "fit_ci_low": r.fit_ci_low, "fit_ci_high": r.fit_ci_high,
            "cf_threshold": cf, "cf_ci_low": r.ci_low, "cf_ci_high": r.ci_high,
            "difference": fit - cf if both else math.nan, "ratio": fit / cf if both else math.nan,
            "fit_in_cf_interval": fit_in, "cf_in_fit_interval": cf_in, "verdict": verdict(fit, cf, fit_in, cf_in),
        })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def subsample_thresholds(concepts: pd.DataFrame, paper: dict[str, Any], fractions: list[float], draws: int, seed: int) -> pd.DataFrame:
    """FIT's paper reading on seeded subsamples of each domain's concepts (fraction 1: the full set)."""
    rows = []
    for domain, dom in concepts.groupby("domain", sort=True):
        for fraction in fractions:
            m = max(2, int(round(fraction * len(dom))))
            for d in range(draws if m < len(dom) else 1):
                rng = np.random.default_rng(stable_seed(seed, "counterfactual", "subsample", domain, fraction, d))
                pick = dom.iloc[np.sort(rng.choice(len(dom), size=min(m, len(dom)), replace=False))]
                y = pick["score"].to_numpy(dtype=float)
                bkps = pelt_l2(y, float(paper["penalty"]), int(paper["min_size"]), int(paper["jump"]))
                reading = read_paper(pick["count"].to_numpy(dtype=float), y, list(pick["concept"]), bkps,
                                     float(paper["outlier_factor"]))
                rows.append({"domain": domain, "fraction": float(fraction), "n_concepts": len(pick), "draw": d,
                             "status": "threshold" if reading.cp is not None else "no_change",
                             "threshold": math.nan if reading.threshold is None else reading.threshold})
    return pd.DataFrame(rows, columns=SUBSAMPLE_COLUMNS)
