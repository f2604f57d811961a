"""Probe concepts and the counterfactual training sets (numpy / pandas only).

A probe's *source rows* are the corpus rows whose image shows it and whose caption names it (the
world's ``named`` and ``duplicate`` rows): exactly what FIT's count measures. At ladder level
``L`` the probe's rows are replaced by ``L`` draws from its source rows (all of them once when
``L`` exceeds them, then repeats, as LAION's re-posts), its unnamed images and the mismatched
captions that name it are dropped, and every other row of the corpus is kept as it is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from imitation_kedro.core.phrase_rule import matches
from imitation_kedro.core.seeding import stable_seed

SOURCE_ROLES = ("named", "duplicate")
PROBE_COLUMNS = ["domain", "concept", "true_image_count", "n_source_images", "bin"]


def _require(frame: pd.DataFrame, columns: list[str], dataset: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{dataset} lacks column(s) {missing}; it is written by the world pipeline "
            "(`kedro run --pipelines world`)"
        )


def source_counts(plan: pd.DataFrame) -> pd.Series:
    """Per concept, how many image rows show it under a caption naming it."""
    _require(plan, ["shows", "role", "has_image"], "raw_world_corpus_plan")
    rows = plan[plan["has_image"] & plan["role"].isin(SOURCE_ROLES) & plan["shows"].notna()]
    return rows["shows"].value_counts()


def pick_probes(truth: pd.DataFrame, plan: pd.DataFrame, per_domain: int, min_source: int, seed: int) -> pd.DataFrame:
    """Per domain, ``per_domain`` concepts spread over the log-count range, one per rank bin.

    Candidates (``min_source`` or more source images) are sorted by true image count and cut
    into ``per_domain`` contiguous bins; a seeded draw picks one concept in each bin.
    """
    _require(truth, ["concept", "domain", "true_image_count"], "raw_ground_truth")
    n_source = source_counts(plan)
    out = []
    for domain, group in truth.groupby("domain", sort=True):
        group = group.assign(n_source_images=group["concept"].map(n_source).fillna(0).astype(int))
        cand = group[group["n_source_images"] >= min_source].sort_values(
            ["true_image_count", "concept"], kind="stable"
        )
        if len(cand) < per_domain:
            raise ValueError(
                f"domain {domain!r} has {len(cand)} concepts with >= {min_source} source images, "
                f"fewer than counterfactual.probes.per_domain={per_domain}; lower per_domain or "
                "min_source_images"
            )
        for b, idx in enumerate(np.array_split(np.arange(len(cand)), per_domain)):
            rng = np.random.default_rng(stable_seed(seed, "counterfactual", "probe", domain, b))
            row = cand.iloc[int(rng.choice(idx))]
            out.append({"domain": str(domain), "concept": row["concept"],
                        "true_image_count": int(row["true_image_count"]),
                        "n_source_images": int(row["n_source_images"]), "bin": b})
    return pd.DataFrame(out, columns=PROBE_COLUMNS)


def draw_rows(n_source: int, level: int, rng: np.random.Generator) -> np.ndarray:
    """``level`` indices into ``n_source`` rows: without repeats while they last, then repeats."""
    if n_source < 1:
        raise ValueError("a probe without source images cannot be resampled")
    if level <= n_source:
        return np.sort(rng.choice(n_source, size=level, replace=False))
    extra = rng.choice(n_source, size=level - n_source, replace=True)
    return np.concatenate([np.arange(n_source), np.sort(extra)])


def training_rows(
    plan: pd.DataFrame, keys: list[str], probes: pd.DataFrame, level: int, train_seed: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Indices into the decoded images (``keys`` order) of the training set at ``level``.

    Returns the indices (other rows first, in corpus order, then each probe's draws) and, per
    probe, its number of distinct source images in the set.
    """
    _require(plan, ["SAMPLE_ID", "TEXT", "shows", "role", "has_image"], "raw_world_corpus_plan")
    position = {k: i for i, k in enumerate(keys)}
    rows = plan[plan["has_image"]]
    image_index = rows["SAMPLE_ID"].map(lambda s: position.get(f"{int(s):09d}", -1)).to_numpy()
    if (image_index < 0).any():
        missing = rows["SAMPLE_ID"].to_numpy()[image_index < 0][:3].tolist()
        raise ValueError(
            f"raw_laion_images lacks the image of plan rows {missing} (and maybe more): the world's "
            "corpus plan and images come from different runs; re-run `kedro run --pipelines world`"
        )
    names = list(probes["concept"])
    shows_probe = rows["shows"].isin(names).to_numpy()
    mismatch = (rows["role"] == "mismatch").to_numpy()
    names_probe = np.zeros(len(rows), dtype=bool)
    texts = rows["TEXT"].to_numpy()
    for i in np.flatnonzero(mismatch):
        names_probe[i] = any(matches(texts[i], n) for n in names)
    parts = [image_index[~shows_probe & ~names_probe]]
    distinct = {}
    for name in sorted(names):
        src = image_index[(rows["shows"] == name).to_numpy() & rows["role"].isin(SOURCE_ROLES).to_numpy()]
        rng = np.random.default_rng(stable_seed("counterfactual", "resample", name, level, train_seed))
        picked = src[draw_rows(len(src), level, rng)]
        distinct[name] = int(len(np.unique(picked)))
        parts.append(picked)
    return np.concatenate(parts), distinct


def log_spread(counts: pd.Series) -> float:
    """Decades of count the probes span (for the report)."""
    lo, hi = float(counts.min()), float(counts.max())
    return math.log10(hi / lo) if lo > 0 else float("nan")
