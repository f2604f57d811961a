"""Sections of the markdown report of the backdoor study (numbers computed, never typed in).

``nodes.write_report`` assembles them: settings, poisoned models, cleaned models, and the answer to
the paper's question (:mod:`.finding`). Intervals (statsmodels, :mod:`.intervals`): Wilson 95 % for
one model's accuracy / ASR on the test split (binomial over test images); Student-t 95 % across
pre-training seeds for means; Welch 95 % for the difference of two objectives' means; each inside
the range of its quantity, none across fewer than ``MIN_SEEDS`` seeds. Numbers in percent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .finding import acc_before
from .intervals import CHANGE, FRACTION, MIN_SEEDS, markdown_table, pct, seed_ci, wilson_cell
from .params import AttackParams


def trigger_text(attack: AttackParams) -> str:
    """The trigger in words (patch size, noise and location, or the attack kind)."""
    a = attack
    if a.kind in ("badnet", "label_consistent"):
        noise = a.patch_noise.replace("_", "-")
        return f"{a.patch_size} px {noise} noise patch, {a.patch_location} location"
    return a.kind


def kept_models(pretrain_metrics: pd.DataFrame) -> pd.DataFrame:
    """The kept checkpoint of every pre-trained model, by objective and seed."""
    kept = pretrain_metrics[pretrain_metrics["kept"]]
    return kept.sort_values(["pretrain_objective", "pretrain_seed"])


def poisoned_section(kept: pd.DataFrame, n_acc: int, n_asr: int) -> list[str]:
    """Poisoned models before cleaning: per model (Wilson) and across seeds (Student-t)."""
    per_model = pd.DataFrame(
        {
            "model": kept["model"],
            "epoch": kept["epoch"],
            "test top-1 % [Wilson]": [wilson_cell(v, n_acc) for v in kept["test_acc1"]],
            "test ASR@1 % [Wilson]": [wilson_cell(v, n_asr) for v in kept["test_asr1"]],
            "selection ASR@1 %": [pct(v) for v in kept["selection_asr1"]],
        }
    )
    across = pd.DataFrame(
        [
            {
                "pre-training": obj,
                "test top-1 %": seed_ci(g["test_acc1"].to_numpy(), FRACTION),
                "test ASR@1 %": seed_ci(g["test_asr1"].to_numpy(), FRACTION),
            }
            for obj, g in kept.groupby("pretrain_objective", sort=True)
        ]
    )
    return [
        "## Poisoned models (kept checkpoint, before cleaning)",
        "",
        markdown_table(per_model),
        "",
        f"Across seeds (mean [95 % t-interval, within 0-100 %]; none below {MIN_SEEDS} seeds):",
        "",
        markdown_table(across),
        "",
    ]


def streaming_rejects(pretrain: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    """Streaming mode only: pairs whose image failed to decode in a batch (dropped, counted)."""
    if "decode_rejects" not in pretrain.columns:
        return []
    most = int(pretrain["decode_rejects"].max())
    if "decode_rejects" in results.columns and len(results):
        most = max(most, int(results["decode_rejects"].max()))
    return [
        f"- images that failed to decode while streaming (pair dropped from both sides of its "
        f"batch; most in one node): {most}"
    ]


def n_eval(classes: dict[str, Any], split: str, what: str) -> int:
    """Images of ``split`` behind accuracy (``acc``) or ASR (``asr``), 0 when unknown."""
    return int(classes.get("n_eval", {}).get(split, {}).get(what, 0))


def cleaned_summary(kept: pd.DataFrame, heldout: pd.DataFrame, n_asr: int) -> list[str]:
    """Per (pre-training objective, cleaning objective, cap): seeds cleaned, accuracy and ASR."""
    if heldout.empty:
        return ["## Selected cleaned models", "", "(no cleaning runs)", ""]
    before = acc_before(kept)
    rows, detail = [], []
    for (obj, clean, cap), g in heldout.groupby(
        ["pretrain_objective", "clean_objective", "asr_cap"], sort=True
    ):
        ok = g[g["selected"]]
        change = np.array(
            [r.test_acc1 - before[(obj, int(r.pretrain_seed))] for r in ok.itertuples()]
        )
        rows.append(
            {
                "pre-training": obj,
                "cleaning": clean,
                "ASR cap %": f"{100 * cap:g}",
                "seeds cleaned": f"{len(ok)}/{len(g)}",
                "test top-1 % after": seed_ci(ok["test_acc1"].to_numpy(), FRACTION),
                "change vs poisoned (points)": seed_ci(change, CHANGE),
                "test ASR@1 % after": seed_ci(ok["test_asr1"].to_numpy(), FRACTION),
                "lowest selection ASR % (mean)": pct(float(g["min_asr"].mean())),
            }
        )
    for r in heldout.sort_values(
        ["pretrain_objective", "pretrain_seed", "clean_objective", "asr_cap"]
    ).itertuples(index=False):
        detail.append(
            {
                "pre-training": r.pretrain_objective,
                "seed": int(r.pretrain_seed),
                "cleaning": r.clean_objective,
                "cap %": f"{100 * r.asr_cap:g}",
                "lr": r.lr if r.selected else "-",
                "epoch": int(r.epoch) if r.selected else "-",
                "sel top-1 %": pct(r.sel_acc1) if r.selected else "-",
                "test top-1 %": pct(r.test_acc1) if r.selected else "not cleaned",
                "test ASR@1 % [Wilson]": (wilson_cell(r.test_asr1, n_asr) if r.selected else "-"),
                "min sel ASR %": pct(r.min_asr),
            }
        )
    return [
        "## Selected cleaned models (held-out selection rule)",
        "",
        "Per cap, the best selection-split top-1 among (run, epoch) points with selection ASR@1 ≤ cap;"
        " the point's test numbers. Mean [95 % t-interval] over the seeds that reached the cap"
        f" (none below {MIN_SEEDS} seeds).",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
        "<details><summary>Per seed</summary>",
        "",
        markdown_table(pd.DataFrame(detail)),
        "",
        "</details>",
        "",
    ]
