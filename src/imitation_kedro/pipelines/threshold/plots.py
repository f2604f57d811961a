"""The paper's figure (score vs count, log x, change point and CI band) and the penalty plot."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

from imitation_kedro.pipelines.threshold.curves import logistic_curve

METHOD_STYLE = {"paper": ("tab:red", "-"), "segmented": ("tab:blue", "--")}


def _grid(n: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = min(3, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _legend_below(ax) -> None:
    """The legend under the panel (never over the data), in columns."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(3, len(handles)),
            frameon=False,
        )


def _integer_axis(axis, log: bool) -> None:
    """Ticks at whole numbers, labelled as integers (a count axis: 1000, not 1e3 or 2.5)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    if log:
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else ""))
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_major_locator(MaxNLocator(integer=True))


def figure_png(fig) -> bytes:
    """PNG bytes of a figure (for the self-contained report)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)  # tight_layout already ran; "tight" would redraw
    return buffer.getvalue()


def threshold_figure(concepts: pd.DataFrame, thresholds: pd.DataFrame, curves: pd.DataFrame):
    """One panel per (concept_set, model): the FIT figure with every method's change point."""
    groups = list(concepts.groupby(["concept_set", "model"], sort=True))
    fig, axes = _grid(max(1, len(groups)))
    if not groups:
        axes[0].text(0.5, 0.5, "no concepts to plot", ha="center", va="center")
    for ax, ((cset, model), g) in zip(axes, groups, strict=False):
        ax.scatter(g["count"], g["score"], s=12, color="0.3", alpha=0.8, label="concepts")
        ax.set_xscale("symlog", linthresh=1.0)  # zero counts stay visible
        _integer_axis(ax.xaxis, log=True)
        ax.set_xlabel("training images (count, log scale)")
        ax.set_ylabel("imitation score")
        ax.set_title(f"{cset} / {model} (n={len(g)})")
        crow = curves[(curves["concept_set"] == cset) & (curves["model"] == model)]
        if len(crow) and np.isfinite(crow.iloc[0].get("logistic_b1", np.nan)):
            xs = np.unique(np.concatenate([[0], np.geomspace(1, max(g["count"].max(), 1), 200)]))
            ax.plot(
                xs, logistic_curve(crow.iloc[0], xs), color="tab:green", lw=1, label="logistic fit"
            )
        trows = thresholds[(thresholds["concept_set"] == cset) & (thresholds["model"] == model)]
        for r in trows.itertuples(index=False):
            color, ls = METHOD_STYLE.get(r.method, ("k", ":"))
            if r.status != "threshold":
                continue
            ax.axvline(
                r.threshold, color=color, ls=ls, lw=1.5, label=f"{r.method}: {r.threshold:,.0f}"
            )
            if np.isfinite(r.ci_low) and np.isfinite(r.ci_high):
                ax.axvspan(
                    r.ci_low,
                    max(r.ci_high, r.ci_low * 1.001 + 1e-9),
                    color=color,
                    alpha=0.12,
                    label=f"{r.method} {r.ci_level:.0%} CI",
                )
            ax.hlines([r.mean_before], g["count"].min(), r.threshold, colors=color, lw=0.8, ls=":")
            ax.hlines([r.mean_after], r.threshold, g["count"].max(), colors=color, lw=0.8, ls=":")
        _legend_below(ax)
    fig.tight_layout()
    return fig


def sensitivity_figure(sensitivity: pd.DataFrame, paper_penalty: float):
    """Threshold (left axis) and number of change points (right) vs PELT penalty, per group."""
    groups = list(sensitivity.groupby(["concept_set", "model"], sort=True))
    fig, axes = _grid(max(1, len(groups)))
    if not groups:
        axes[0].text(0.5, 0.5, "no penalty sweep", ha="center", va="center")
    for ax, ((cset, model), g) in zip(axes, groups, strict=False):
        grid = g[g["kind"] == "grid"].sort_values("penalty")
        ax.plot(
            grid["penalty"], grid["threshold"], marker="o", ms=3, color="tab:red", label="threshold"
        )
        ax.set_xscale("log")
        finite = grid["threshold"].dropna()
        log_y = bool(len(finite) and (finite > 0).all())
        if log_y:
            ax.set_yscale("log")
        _integer_axis(ax.yaxis, log=log_y)
        ax.set_xlabel("PELT penalty")
        ax.set_ylabel("threshold (count)")
        ax.axvline(paper_penalty, color="k", lw=0.8, ls="--", label=f"paper pen={paper_penalty:g}")
        bic = g[g["kind"] == "bic"]
        if len(bic):
            ax.axvline(
                bic["penalty"].iloc[0], color="tab:purple", lw=0.8, ls=":", label="BIC-like pen"
            )
        twin = ax.twinx()
        twin.step(grid["penalty"], grid["n_change_points"], where="mid", color="0.5", lw=1)
        twin.set_ylabel("change points", color="0.4")
        _integer_axis(twin.yaxis, log=False)
        ax.set_title(f"{cset} / {model}")
        _legend_below(ax)
    fig.tight_layout()
    return fig
