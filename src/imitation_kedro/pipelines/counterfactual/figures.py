"""Dose-response curves per domain with FIT's threshold and interval drawn on them."""

from __future__ import annotations

import numpy as np
import pandas as pd

_CF_STYLE = {"pelt": ("tab:red", "--"), "reach": ("tab:green", ":")}


def dose_response_figure(curves: pd.DataFrame, domains: pd.DataFrame, reference: pd.DataFrame, fit_method: str):
    """One panel per domain: each probe's seed-mean score vs training-image count (log x).

    FIT's ``fit_method`` threshold is a solid black line with its interval shaded grey; the
    counterfactual domain thresholds are coloured dashed lines with hatched intervals.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(curves["domain"].unique())
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(6 * max(1, len(names)), 4.2), squeeze=False)
    for ax, domain in zip(axes[0], names, strict=False):
        dom = curves[curves["domain"] == domain]
        for concept, c in dom.groupby("concept", sort=True):
            g = c.groupby("level")["score"]
            lv = g.mean().index.to_numpy()
            ax.plot(lv, g.mean().to_numpy(), marker="o", lw=1, ms=3, alpha=0.8, label=concept)
            ax.fill_between(lv, g.min().to_numpy(), g.max().to_numpy(), alpha=0.1)
        ref = reference[(reference["domain"] == domain) & (reference["fit_method"] == fit_method)]
        if len(ref) and np.isfinite(ref["fit_threshold"].iloc[0]):
            r = ref.iloc[0]
            ax.axvline(r["fit_threshold"], color="black", lw=2, label=f"FIT {fit_method}: {r['fit_threshold']:g}")
            if np.isfinite(r["fit_ci_low"]) and np.isfinite(r["fit_ci_high"]):
                ax.axvspan(r["fit_ci_low"], r["fit_ci_high"], color="grey", alpha=0.2, label="FIT interval")
        else:
            ax.text(0.02, 0.95, f"FIT {fit_method}: no threshold", transform=ax.transAxes, va="top")
        for row in domains[domains["domain"] == domain].itertuples(index=False):
            color, ls = _CF_STYLE.get(row.definition, ("tab:blue", "-."))
            if np.isfinite(row.threshold):
                ax.axvline(row.threshold, color=color, ls=ls, lw=1.5,
                           label=f"counterfactual {row.definition}: {row.threshold:.3g}")
                hi = row.ci_high if np.isfinite(row.ci_high) else curves["level"].max()
                if np.isfinite(row.ci_low):
                    ax.axvspan(row.ci_low, hi, color=color, alpha=0.08, hatch="//")
        ax.set_xscale("log")
        ax.set_xlabel("training images of the probe (counterfactual dose)")
        ax.set_ylabel("imitation score (FIT similarity)")
        ax.set_title(f"{domain}: {dom['concept'].nunique()} probes")
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig
