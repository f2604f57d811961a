"""Found thresholds vs the miniature world's known truth (``rpt_world_report``).

The world knows each concept's true image count and whether its model imitates it (``imitated``:
most generations retrieve the concept's own references). A threshold is right to the extent that
"count >= threshold" and "imitated" agree; the best single cut on the true counts is the
comparison point, the truth the change point tries to find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUTH_COLUMNS = ["concept", "true_image_count", "imitated"]


def best_cut(counts: np.ndarray, imitated: np.ndarray) -> tuple[int, float]:
    """The count ``c`` for which "count >= c" agrees best with ``imitated`` (lowest ``c`` among
    ties) and that agreement (share of concepts)."""
    best = (int(counts.min()), -1.0)
    for c in np.unique(counts):
        agree = float(np.mean((counts >= c) == imitated))
        if agree > best[1]:
            best = (int(c), agree)
    return best


def compare_with_truth(
    thresholds: pd.DataFrame, concepts: pd.DataFrame, truth: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per (concept set, model, method) with a threshold whose concepts are all in
    ``truth`` (grouped by ``domain`` for tables without ``concept_set``).

    Columns: ``threshold``, ``agreement`` (share of the group's concepts where "true count >=
    threshold" equals ``imitated``), ``true_cut`` and ``true_agreement`` (the best single cut),
    ``n_imitated`` and ``n_concepts``. Empty when there is no truth for these concepts (a user
    table, paper scale, or the world not built).
    """
    group = "concept_set" if "concept_set" in thresholds.columns else "domain"
    columns = [
        group,
        "model",
        "method",
        "threshold",
        "agreement",
        "true_cut",
        "true_agreement",
        "n_imitated",
        "n_concepts",
    ]
    if truth is None or truth.empty or not set(TRUTH_COLUMNS) <= set(truth.columns):
        return pd.DataFrame(columns=columns)
    known = truth.drop_duplicates("concept").set_index("concept")
    rows = []
    for (key, model), members in concepts.groupby([group, "model"], sort=True):
        if not members["concept"].isin(known.index).all():
            continue
        sub = known.loc[members["concept"]]
        counts = sub["true_image_count"].to_numpy(float)
        imitated = sub["imitated"].astype(bool).to_numpy()
        cut, cut_agree = best_cut(counts, imitated)
        found = thresholds[
            (thresholds[group] == key)
            & (thresholds["model"] == model)
            & (thresholds["status"] == "threshold")
        ]
        for r in found.itertuples(index=False):
            rows.append(
                {
                    group: key,
                    "model": model,
                    "method": r.method,
                    "threshold": r.threshold,
                    "agreement": float(np.mean((counts >= r.threshold) == imitated)),
                    "true_cut": cut,
                    "true_agreement": cut_agree,
                    "n_imitated": int(imitated.sum()),
                    "n_concepts": len(sub),
                }
            )
    return pd.DataFrame(rows, columns=columns)
