"""The report's answer to the paper's question: is cleaning harder after MMCL+SSL pre-training?

Per seed, the accuracy cost of cleaning to an ASR cap and the lowest ASR the grid reached, per
pre-training objective; MMCL+SSL minus MMCL with a Welch interval (none below ``MIN_SEEDS`` seeds
per objective). No conclusion is drawn unless every poisoned model carries the backdoor (the gate,
reference section 10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import (
    CHANGE,
    CHANGE_OF_CHANGE,
    FRACTION,
    MIN_SEEDS,
    markdown_table,
    seed_ci,
    too_few,
    welch_interval,
    with_ci,
)
from .params import SelectParams

GATE_ASR = 0.8  # reference s10: a backdoor must exist before the mitigation claim is tested


def acc_before(kept: pd.DataFrame) -> dict[tuple[str, int], float]:
    return {
        (r.pretrain_objective, int(r.pretrain_seed)): float(r.test_acc1)
        for r in kept.itertuples(index=False)
    }


def drops(
    kept: pd.DataFrame, heldout: pd.DataFrame, cap: float, cleaning: str | None
) -> dict[str, np.ndarray]:
    """Per pre-training objective, per seed: poisoned test top-1 minus the best cleaned test top-1
    at ASR <= cap (``cleaning=None``: any cleaning objective); no eligible point = all of it."""
    out = {}
    before = acc_before(kept)
    for obj in ("mmcl", "mmcl_ssl"):
        vals = []
        for seed in sorted(kept.loc[kept["pretrain_objective"] == obj, "pretrain_seed"]):
            pts = heldout[
                (heldout["pretrain_objective"] == obj)
                & (heldout["pretrain_seed"] == seed)
                & (heldout["asr_cap"] == cap)
                & heldout["selected"]
            ]
            if cleaning is not None:
                pts = pts[pts["clean_objective"] == cleaning]
            acc0 = before[(obj, int(seed))]
            vals.append(acc0 - (pts["test_acc1"].max() if len(pts) else 0.0))
        out[obj] = np.array(vals, dtype=float)
    return out


def finding(kept: pd.DataFrame, heldout: pd.DataFrame, select: SelectParams) -> list[str]:
    """Is cleaning harder after MMCL+SSL pre-training? The accuracy cost and the resistance of
    the backdoor per objective, compared with Welch intervals (no conclusion below the gate)."""
    cap = min(select.asr_caps)
    objs = set(kept["pretrain_objective"])
    if not {"mmcl", "mmcl_ssl"} <= objs or heldout.empty:
        return ["Needs both `mmcl` and `mmcl_ssl` pre-training to compare."]
    weak = kept[kept["test_asr1"] < GATE_ASR]
    if len(weak):
        return [
            f"**Gate not met:** {', '.join(weak['model'])} reached test ASR@1 "
            f"{', '.join(f'{100 * a:.0f} %' for a in weak['test_asr1'])} before cleaning, "
            f"below the {100 * GATE_ASR:.0f} % the reference requires before testing the "
            "mitigation claim (section 10). No conclusion is drawn; train longer or poison more."
        ]
    if not heldout[heldout["asr_cap"] == cap]["selected"].any():
        return [
            f"No cleaning run of any model reached ASR ≤ {100 * cap:g} % on the selection "
            "split: the grid is too small to compare the objectives."
        ]
    out = [
        f"Accuracy cost of cleaning = poisoned test top-1 minus the selected cleaned test top-1 at "
        f"selection ASR@1 ≤ {100 * cap:g} %, per seed (negative: cleaning also raised accuracy); "
        "a seed with no eligible point counts as losing its whole poisoned accuracy. "
        "Difference = MMCL+SSL minus MMCL pre-training, mean [95 % Welch interval]; "
        "'harder' needs the interval above 0.",
        "",
    ]
    cleanings = [c for c in ("mmcl_ssl", "mmcl", "ssl") if c in set(heldout["clean_objective"])]
    rows, verdicts = [], {}
    for cleaning in [*cleanings, None]:
        cost = drops(kept, heldout, cap, cleaning)
        diff, lo, hi = welch_interval(cost["mmcl_ssl"], cost["mmcl"], CHANGE_OF_CHANGE)
        if np.isfinite(lo) and lo > 0:
            verdict = "harder after MMCL+SSL"
        elif np.isfinite(hi) and hi < 0:
            verdict = "easier after MMCL+SSL"
        elif np.isfinite(lo):
            verdict = "no clear difference (interval includes 0)"
        else:
            verdict = f"{'harder' if diff > 0 else 'not harder'} ({_too_few(cost)})"
        name = {"mmcl_ssl": "MMCL+SSL (CleanCLIP)", None: "best of any"}.get(
            cleaning, str(cleaning).upper()
        )
        verdicts[name] = verdict
        rows.append(
            {
                "cleaning": name,
                "cost after MMCL (points)": seed_ci(cost["mmcl"], CHANGE),
                "cost after MMCL+SSL (points)": seed_ci(cost["mmcl_ssl"], CHANGE),
                "difference (points)": with_ci(diff, lo, hi),
                "seeds not cleaned (MMCL / MMCL+SSL)": (
                    f"{_not_cleaned(heldout, 'mmcl', cap, cleaning)} / "
                    f"{_not_cleaned(heldout, 'mmcl_ssl', cap, cleaning)}"
                ),
                "reading": verdict,
            }
        )
    out += [markdown_table(pd.DataFrame(rows)), ""]
    out += [
        "Resistance = the lowest selection-split ASR@1 any (lr, epoch) point of the grid reached, "
        "per seed, whatever the accuracy; difference = MMCL+SSL minus MMCL pre-training.",
        "",
    ]
    rows = []
    for cleaning in [*cleanings, None]:
        lows = _lowest_asr(kept, heldout, cleaning)
        diff, lo, hi = welch_interval(lows["mmcl_ssl"], lows["mmcl"], CHANGE)
        if np.isfinite(lo) and lo > 0:
            reading = "higher after MMCL+SSL"
        elif np.isfinite(hi) and hi < 0:
            reading = "lower after MMCL+SSL"
        else:
            reading = "no clear difference" if np.isfinite(lo) else _too_few(lows)
        rows.append(
            {
                "cleaning": {"mmcl_ssl": "MMCL+SSL (CleanCLIP)", None: "best of any"}.get(
                    cleaning, str(cleaning).upper()
                ),
                "lowest ASR after MMCL (%)": seed_ci(lows["mmcl"], FRACTION),
                "lowest ASR after MMCL+SSL (%)": seed_ci(lows["mmcl_ssl"], FRACTION),
                "difference (points)": with_ci(diff, lo, hi),
                "reading": reading,
            }
        )
    out += [markdown_table(pd.DataFrame(rows)), ""]
    headline = verdicts["MMCL+SSL (CleanCLIP)"] if "MMCL+SSL (CleanCLIP)" in verdicts else None
    if headline:
        out.append(
            f"With CleanCLIP (MMCL+SSL cleaning), the paper's headline, cleaning at ASR ≤ "
            f"{100 * cap:g} % is **{headline}** at this scale."
        )
    if min(len(v) for v in drops(kept, heldout, cap, None).values()) < MIN_SEEDS:
        out.append(
            f"Seeds are few (< {MIN_SEEDS} per pre-training objective): no interval across seeds, "
            "so no reading above is a conclusion; train more seeds."
        )
    return out


def _too_few(per_objective: dict[str, np.ndarray]) -> str:
    """Why a comparison has no interval: the smaller seed count of the two objectives."""
    return too_few(min(int(np.sum(~np.isnan(v))) for v in per_objective.values()))


def _lowest_asr(
    kept: pd.DataFrame, heldout: pd.DataFrame, cleaning: str | None
) -> dict[str, np.ndarray]:
    """Per pre-training objective, per seed: the lowest selection ASR@1 of the cleaning grid."""
    out = {}
    for obj in ("mmcl", "mmcl_ssl"):
        g = heldout[heldout["pretrain_objective"] == obj]
        if cleaning is not None:
            g = g[g["clean_objective"] == cleaning]
        seeds = sorted(kept.loc[kept["pretrain_objective"] == obj, "pretrain_seed"])
        low = g.groupby("pretrain_seed")["min_asr"].min()
        out[obj] = np.array([low.get(seed, np.nan) for seed in seeds], dtype=float)
    return out


def _not_cleaned(heldout: pd.DataFrame, obj: str, cap: float, cleaning: str | None) -> str:
    g = heldout[(heldout["pretrain_objective"] == obj) & (heldout["asr_cap"] == cap)]
    if cleaning is not None:
        g = g[g["clean_objective"] == cleaning]
    per_seed = g.groupby("pretrain_seed")["selected"].any()
    return f"{int((~per_seed).sum())}/{len(per_seed)}"
