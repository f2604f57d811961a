"""The accuracy-vs-ASR figure and the markdown report (numbers computed, never typed in)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .params import BackdoorParams

GATE_ASR = 0.8  # reference s10: a backdoor must exist before the mitigation claim is tested
COLOURS = {"mmcl": "tab:blue", "ssl": "tab:orange", "mmcl_ssl": "tab:green"}


def plot_accuracy_vs_asr(results: pd.DataFrame, params: BackdoorParams) -> Any:
    """One panel per pre-training objective: every (run, epoch) point on the test split, the
    poisoned model as a red star (the paper's scatter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objectives = sorted(results["pretrain_objective"].unique())
    fig, axes = plt.subplots(1, len(objectives), figsize=(5 * len(objectives), 4), squeeze=False)
    for ax, obj in zip(axes[0], objectives, strict=True):
        sub = results[results["pretrain_objective"] == obj]
        for clean_obj, pts in sub[sub["epoch"] > 0].groupby("clean_objective"):
            ax.scatter(
                100 * pts["test_asr1"],
                100 * pts["test_acc1"],
                s=14,
                alpha=0.7,
                color=COLOURS.get(clean_obj),
                label=f"cleaned: {clean_obj}",
            )
        start = sub[sub["epoch"] == 0]
        ax.scatter(
            100 * start["test_asr1"],
            100 * start["test_acc1"],
            marker="*",
            s=160,
            color="red",
            label="poisoned (before cleaning)",
        )
        for cap in params.select.asr_caps:
            ax.axvline(100 * cap, color="grey", lw=0.6, ls=":")
        ax.set(
            title=f"pre-trained with {obj}",
            xlabel="ASR@1 on triggered test images (%)",
            ylabel="zero-shot top-1 accuracy, test (%)",
            xlim=(-2, 102),
        )
        ax.legend(fontsize=7)
    fig.suptitle(f"CleanCLIP grid, attack {params.attack.kind}")
    fig.tight_layout()
    return fig


def _mean_ci(values: np.ndarray) -> str:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return "n/a"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{100 * values.mean():.1f} ± {100 * half:.1f} (95% CI, n={len(values)})"


def _table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    classes: dict[str, Any],
    manifest: pd.DataFrame,
    pretrain_metrics: pd.DataFrame,
    results: pd.DataFrame,
    selection: pd.DataFrame,
    params: BackdoorParams,
) -> str:
    """Markdown: data, attack, poisoned models, selected cleaned models, the paper's question."""
    n_cls = len(classes["classes"])
    kept = pretrain_metrics[pretrain_metrics["kept"]]
    before = kept[["model", "epoch", "test_acc1", "test_asr1", "selection_asr1", "pairs_per_s"]]
    heldout = selection[selection["rule"] == "heldout"]
    sel_cols = [
        "pretrain_objective",
        "pretrain_seed",
        "clean_objective",
        "asr_cap",
        "selected",
        "lr",
        "lambda_ssl",
        "epoch",
        "sel_acc1",
        "sel_asr1",
        "test_acc1",
        "test_asr1",
        "min_asr",
    ]
    lines = [
        f"# Backdoor cleaning vs pre-training objective ({params.attack.kind} attack)",
        "",
        f"- classes: {n_cls} (chance top-1 = {100 / n_cls:.1f} %), target {classes['target']!r}",
        f"- poisoned pre-training pairs: {len(manifest)}; rejected input pairs: {classes['rejects']}",
        f"- pre-training objectives {list(params.pretrain.objectives)}, seeds "
        f"{list(params.pretrain.seeds)}, {params.pretrain.optim.epochs} epochs, batch "
        f"{params.pretrain.optim.batch_size} pairs for every objective",
        f"- cleaning grid: objectives {list(params.clean.objectives)}, lr {list(params.clean.lrs)},"
        f" λ2 {list(params.clean.lambda_ssl)}, {params.clean.optim.epochs} epochs, fresh optimiser:"
        f" {not params.clean.load_optimizer_state}",
        f"- selection on the `{params.select.selection_split}` split; test numbers reported",
        "",
        "## Poisoned models (kept checkpoint, before cleaning)",
        "",
        _table(before),
        "",
        "## Selected cleaned models (held-out selection rule)",
        "",
        _table(heldout[sel_cols]) if len(heldout) else "(no cleaning runs)",
        "",
        "## Is cleaning harder after MMCL+SSL pre-training?",
        "",
    ]
    lines += _finding(kept, heldout, params)
    lines += [
        "",
        "The oracle rule (selection on test, as in the paper) is in the selection table "
        "(`rule == oracle_test`).",
    ]
    return "\n".join(lines) + "\n"


def _finding(kept: pd.DataFrame, heldout: pd.DataFrame, params: BackdoorParams) -> list[str]:
    cap = min(params.select.asr_caps)
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
        f"Accuracy drop = poisoned test top-1 minus the best cleaned test top-1 at ASR ≤ "
        f"{100 * cap:g} % (any cleaning objective), per seed; no eligible point = the full "
        "poisoned accuracy is lost.",
        "",
    ]
    drops = {}
    for obj in ("mmcl", "mmcl_ssl"):
        vals = []
        for seed in sorted(kept.loc[kept["pretrain_objective"] == obj, "pretrain_seed"]):
            acc0 = kept[(kept["pretrain_objective"] == obj) & (kept["pretrain_seed"] == seed)][
                "test_acc1"
            ].iloc[0]
            pts = heldout[
                (heldout["pretrain_objective"] == obj)
                & (heldout["pretrain_seed"] == seed)
                & (heldout["asr_cap"] == cap)
                & heldout["selected"]
            ]
            vals.append(acc0 - (pts["test_acc1"].max() if len(pts) else 0.0))
        drops[obj] = np.array(vals, dtype=float)
        out.append(f"- pre-trained with {obj}: drop {_mean_ci(drops[obj])} points")
    harder = drops["mmcl_ssl"].mean() > drops["mmcl"].mean()
    out += [
        "",
        f"At this scale cleaning is {'HARDER' if harder else 'NOT harder'} after MMCL+SSL "
        f"pre-training (mean drop {100 * drops['mmcl_ssl'].mean():.1f} vs "
        f"{100 * drops['mmcl'].mean():.1f} points)"
        + (
            "; seeds are few, so read the intervals above before drawing a conclusion."
            if min(len(v) for v in drops.values()) < 3
            else "."
        ),
    ]
    return out
