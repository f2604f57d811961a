"""Model selection (reference section 6; rule B11).

Per (pre-training objective, seed, cleaning objective) and ASR cap: among every (run, epoch) point
whose ASR@1 on the selection split is <= cap, take the highest selection-split top-1 accuracy
(ties: lower ASR, earlier epoch); report that point's TEST numbers. The paper's oracle (selecting
on test) is reported beside it for comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP = ["pretrain_objective", "pretrain_seed", "clean_objective"]


def select_points(results: pd.DataFrame, caps: list[float], selection_split: str) -> pd.DataFrame:
    """One row per group x cap (x rule): the selected point and its test numbers."""
    rules = [("heldout", selection_split)]
    if selection_split != "test":
        rules.append(("oracle_test", "test"))
    rows = []
    for keys, group in results.groupby(GROUP, sort=True):
        for cap in caps:
            for rule, split in rules:
                acc, asr = f"{split}_acc1", f"{split}_asr1"
                ok = group[group[asr] <= cap + 1e-12]
                base = dict(zip(GROUP, keys, strict=True)) | {
                    "attack": group["attack"].iloc[0],
                    "asr_cap": cap,
                    "rule": rule,
                    "selected_on": split,
                    "n_points": len(group),
                    "n_eligible": len(ok),
                    "min_asr": float(group[asr].min()),
                }
                if ok.empty:
                    rows.append(
                        base
                        | {"selected": False}
                        | {
                            c: np.nan
                            for c in [
                                "lr",
                                "lambda_ssl",
                                "epoch",
                                "sel_acc1",
                                "sel_asr1",
                                "test_acc1",
                                "test_acc5",
                                "test_asr1",
                                "test_asr5",
                            ]
                        }
                    )
                    continue
                best = ok.sort_values(
                    [acc, asr, "epoch", "lr"], ascending=[False, True, True, True]
                ).iloc[0]
                rows.append(
                    base
                    | {
                        "selected": True,
                        "lr": best["lr"],
                        "lambda_ssl": best["lambda_ssl"],
                        "epoch": best["epoch"],
                        "sel_acc1": best[acc],
                        "sel_asr1": best[asr],
                        "test_acc1": best["test_acc1"],
                        "test_acc5": best.get("test_acc5", np.nan),
                        "test_asr1": best["test_asr1"],
                        "test_asr5": best.get("test_asr5", np.nan),
                    }
                )
    return pd.DataFrame(rows)
