"""Model selection (reference section 6; rule B11).

Per (pre-training objective, seed, cleaning objective) and ASR cap: among every (run, epoch) point
whose ASR@1 on the selection split is <= cap, take the highest selection-split top-1 accuracy
(ties: lower ASR, earlier epoch); report that point's TEST numbers. The paper's oracle (selecting
on test) is reported beside it for comparison.
"""

from __future__ import annotations

from typing import Any

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


class SelectedStates:
    """The weights of the points :func:`select_points` will pick (held-out rule), kept while the
    cleaning runs so the selected models can be saved (B17) without keeping every epoch.

    Same order as :func:`select_points`: highest selection accuracy, then lower ASR, earlier
    epoch, smaller lr; the first point offered wins a full tie (grid order).
    """

    def __init__(self, caps: list[float], split: str) -> None:
        self.caps, self.split = list(caps), split
        self.best: dict[tuple[Any, float], tuple[tuple[float, ...], dict[str, Any]]] = {}

    def offer(self, group: tuple[Any, ...], row: dict[str, Any], state: Any) -> None:
        """One evaluated (run, epoch): ``state()`` returns its weights (called only if needed)."""
        acc, asr = float(row[f"{self.split}_acc1"]), float(row[f"{self.split}_asr1"])
        rank = (-acc, asr, float(row["epoch"]), float(row["lr"]))
        ckpt = None
        for cap in self.caps:
            held = self.best.get((group, cap))
            if asr <= cap + 1e-12 and (held is None or rank < held[0]):
                ckpt = ckpt or {"state_dict": state(), "meta": dict(row)}
                self.best[(group, cap)] = (rank, ckpt)

    def checkpoints(self) -> dict[str, dict[str, Any]]:
        """``{name: {"state_dict", "meta"}}``, one per distinct selected point; ``meta`` names the
        caps it was selected under (``asr_caps``)."""
        out: dict[str, dict[str, Any]] = {}
        for (_group, cap), (_, ckpt) in sorted(self.best.items(), key=lambda kv: repr(kv[0])):
            m = ckpt["meta"]
            name = (
                f"{m['model']}-{m['clean_objective']}-lr{m['lr']:g}-l{m['lambda_ssl']:g}"
                f"-epoch{int(m['epoch'])}"
            )
            entry = out.setdefault(
                name,
                {
                    "state_dict": ckpt["state_dict"],
                    "meta": {k: _plain(v) for k, v in m.items()} | {"asr_caps": []},
                },
            )
            entry["meta"]["asr_caps"].append(cap)
        return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
