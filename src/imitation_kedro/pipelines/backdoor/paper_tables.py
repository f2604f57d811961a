"""The report's tables in the layout of the paper's s7.1 and s7.2 (reference backdoor.md), so a
run's numbers sit beside the published ones. Numbers in percent, computed, never typed in.

s7.1: poisoned models before cleaning (dataset, pre-training, accuracy, ASR) on the test split.
s7.2: per (pre-training, cleaning) objective the (run, epoch) points, the lowest test ASR, and the
test accuracy of the point selected under each ASR cap (held-out rule; the paper's oracle rule is
the selection table's ``rule == oracle_test``).
"""

from __future__ import annotations

import pandas as pd

from .intervals import markdown_table

NAMES = {
    "mmcl": "MMCL",
    "mmcl_ssl": "MMCL+SSL",
    "ssl": "SSL",
    "siglip": "SigLIP",
    "siglip_bias": "SigLIP+bias",
}


def _name(objective: str) -> str:
    return NAMES.get(objective, objective)


def poisoned_table(kept: pd.DataFrame, dataset: str) -> list[str]:
    """s7.1: one row per kept pre-trained model (seed shown when there are several)."""
    seeds = kept["pretrain_seed"].nunique() > 1
    rows = [
        {
            "dataset": dataset,
            "pre-training": _name(r.pretrain_objective)
            + (f" (seed {r.pretrain_seed})" if seeds else ""),
            "accuracy": f"{100 * r.test_acc1:.2f}",
            "ASR": f"{100 * r.test_asr1:.2f}",
        }
        for r in kept.itertuples()
    ]
    return [
        "### s7.1 Poisoned models before cleaning (test top-1 %, ASR@1 %)",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
    ]


def cleaned_table(
    results: pd.DataFrame, selection: pd.DataFrame, caps: list[float], dataset: str
) -> list[str]:
    """s7.2: best accuracy after cleaning by ASR cap, per (pre-training, cleaning) objective."""
    held = selection[selection["rule"] == "heldout"]
    rows = []
    keys = ["pretrain_objective", "pretrain_seed", "clean_objective"]
    for (pre, seed, clean), g in results.groupby(keys, sort=True):
        row = {
            "dataset / pre-training": f"{dataset} / {_name(pre)}"
            + (f" (seed {seed})" if results["pretrain_seed"].nunique() > 1 else ""),
            "cleaning": _name(clean),
            "points": len(g),
            "min ASR": f"{100 * g['test_asr1'].min():.2f}",
        }
        for cap in caps:
            hit = held[
                (held["pretrain_objective"] == pre)
                & (held["pretrain_seed"] == seed)
                & (held["clean_objective"] == clean)
                & (held["asr_cap"] == cap)
                & held["selected"].astype(bool)
            ]
            row[f"acc @ASR<={100 * cap:g} %"] = (
                f"{100 * hit['test_acc1'].iloc[0]:.2f}" if len(hit) else "–"
            )
        rows.append(row)
    return [
        "### s7.2 Best accuracy after cleaning, by ASR cap (test %, selected on the "
        "held-out split)",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
    ]
