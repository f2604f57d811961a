"""The accuracy-vs-ASR figure of the CleanCLIP grid (the paper's scatter)."""

from __future__ import annotations

from typing import Any

import pandas as pd

COLOURS = {"mmcl": "tab:blue", "ssl": "tab:orange", "mmcl_ssl": "tab:green"}


def accuracy_vs_asr_figure(results: pd.DataFrame, asr_caps: list[float], attack: str) -> Any:
    """One panel per pre-training objective: every (run, epoch) point on the test split, the
    poisoned model as a red star (the paper's scatter); the ASR caps as dotted lines."""
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
        for cap in asr_caps:
            ax.axvline(100 * cap, color="grey", lw=0.6, ls=":")
            ax.text(  # label each cap line at the top of the panel, inside the axes
                100 * cap + 1,
                0.98,
                f"ASR cap {100 * cap:g}%",
                transform=ax.get_xaxis_transform(),
                rotation=90,
                va="top",
                ha="left",
                fontsize=6,
                color="0.35",
            )
        ax.set(
            title=f"pre-trained with {obj}",
            xlabel="ASR@1 on triggered test images (%)",
            ylabel="zero-shot top-1 accuracy, test (%)",
            xlim=(-2, 102),
        )
    # One legend for all panels, below them: it never covers a point.
    seen: dict[str, Any] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.suptitle(f"CleanCLIP grid, attack {attack}")
    fig.legend(
        list(seen.values()),
        list(seen.keys()),
        loc="lower center",
        ncol=max(1, len(seen)),
        fontsize=7,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
