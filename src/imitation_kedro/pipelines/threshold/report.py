"""The handoff report: markdown a data team can read without the code."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.pipelines.threshold.params import ThresholdParams

METHOD_TEXT = {
    "paper": (
        "**paper** - the FIT paper's procedure (section 6): concepts sorted by count (ascending, ties "
        'by concept name), `ruptures.Pelt(model="l2", min_size={min_size}, jump={jump})` on the '
        "score sequence with penalty {penalty}. The first breakpoint `cp` (an exclusive segment end, "
        "so the 0-based index of the first concept of the second segment) gives the threshold "
        "`round(count_sorted[cp])`; the next breakpoint gives the second threshold. The paper has no "
        "significance test: a row says *no threshold* only when PELT finds no change point."
    ),
    "segmented": (
        "**segmented** - one break, chosen by OLS over every admissible split (form `{form}`: "
        "`constant` = one mean per side, `linear_log` = one line in log10(1+count) per side; at "
        "least {min_segment} concepts per side; never between equal counts). Test of *no break*: the sup-F statistic "
        "with a Monte-Carlo p-value from {n_permutations} permutations (constant) or residual "
        "bootstrap draws (linear). p >= {alpha} gives *no threshold*."
    ),
}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    """``columns`` of ``df`` as a markdown pipe table, each cell formatted by :func:`_fmt`."""
    if df.empty:
        return "_(none)_\n"
    cells = df[columns].map(lambda v: _fmt(v).replace("|", "/"))
    return cells.to_markdown(index=False, disable_numparse=True) + "\n"


def _image(title: str, png: bytes | None, dataset: str, embed: bool) -> str:
    text = f"**{title}**: catalog dataset `{dataset}` (same run version as this report).\n\n"
    if embed and png:
        text += f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})\n\n"
    return text


def build_report(
    summary: dict[str, Any],
    rejects: pd.DataFrame,
    thresholds: pd.DataFrame,
    sensitivity: pd.DataFrame,
    figure: bytes | None,
    sensitivity_plot: bytes | None,
    params: ThresholdParams,
) -> str:
    """Markdown: inputs, method, thresholds table, plots, caveats."""
    out = ["# Imitation thresholds\n\n"]
    out.append(
        "Where, in order of training-image count, a text-to-image model starts to imitate a concept "
        "(FIT: *How Many Van Goghs Does It Take to Van Gogh?*). One row per (domain, model, method).\n\n"
    )
    out.append("## Inputs\n\n")
    out.append(f"- source: `{summary['source']}`; count column: `{summary['count_column']}`\n")
    for name, info in summary["inputs"].items():
        out.append(
            f"- `{name}`: {info['rows']} rows, content fingerprint `{info['sha256']}` "
            f"(sha256 of the loaded table; versioned inputs load their latest version), columns {', '.join(info['columns'])}\n"
        )
    out.append("\n## Method\n\n")
    for method in params.methods:
        sub = params.paper if method == "paper" else params.segmented
        out.append("- " + METHOD_TEXT[method].format(**sub.to_dict()) + "\n")
    b = params.bootstrap
    if b.n_resamples:
        out.append(
            f"- **CI**: percentile bootstrap, {b.n_resamples} draws, level {b.level:.0%}: concepts "
            f"resampled with replacement{' and, nested, their prompts' if b.nested_prompts else ''}, "
            "re-sorted, change point re-detected. `found` = share of draws with a change point "
            "(the CI uses those draws only).\n"
        )
    if params.logistic:
        out.append(
            "- **Logistic curve**: fractional-logit GLM of the score (rescaled to [0, 1] by "
            "its min and max) on log10(1+count); `midpoint` = count at half height.\n"
        )
    out.append("\n## Thresholds\n\n")
    shown = thresholds.copy()
    shown["CI"] = [
        f"{_fmt(lo)}-{_fmt(hi)}" if np.isfinite(lo) else "-"
        for lo, hi in zip(shown["ci_low"], shown["ci_high"], strict=True)
    ]
    shown["found"] = shown["boot_found_rate"]
    out.append(
        _table(
            shown,
            [
                "domain",
                "model",
                "method",
                "status",
                "threshold",
                "CI",
                "found",
                "threshold_concept",
                "second_threshold",
                "p_value",
                "mean_before",
                "mean_after",
                "logistic_midpoint",
                "n_concepts",
            ],
        )
    )
    notes = thresholds[thresholds["reason"] != ""]
    if len(notes):
        out.append("\nWhy there is no threshold:\n\n")
        for r in notes.itertuples(index=False):
            out.append(f"- {r.domain} / {r.model} / {r.method}: {r.reason}\n")
    out.append("\n## Plots\n\n")
    out.append(_image("Score vs count", figure, "rpt_threshold_figure", params.embed_figures))
    out.append(
        _image(
            "Penalty sensitivity",
            sensitivity_plot,
            "rpt_threshold_sensitivity_plot",
            params.embed_figures,
        )
    )
    if len(sensitivity):
        out.append(
            "\nSensitivity summary (paper method: distinct thresholds over the penalty grid):\n\n"
        )
        grid = sensitivity[sensitivity["kind"] == "grid"]
        agg = (
            grid.groupby(["domain", "model"])
            .agg(
                distinct_thresholds=("threshold", lambda s: s.dropna().nunique()),
                pen_range=("penalty", lambda s: f"{s.min():g}-{s.max():g}"),
            )
            .reset_index()
        )
        out.append(_table(agg, ["domain", "model", "distinct_thresholds", "pen_range"]))
    out.append("\n## Caveats\n\n")
    for entry in summary["n_concepts"]:
        out.append(f"- {entry['domain']} / {entry['model']}: {entry['n']} concepts after checks\n")
    out.append(
        f"- concepts sharing a count with another (ties, ordered by concept name - rule F9): "
        f"{summary['n_tied_concepts']}\n"
    )
    out.append(f"- excluded by parameter: {', '.join(summary['excluded']) or 'none'}\n")
    if summary["exclude_not_found"]:
        out.append(
            f"- exclusion names not found in the data: {', '.join(summary['exclude_not_found'])}\n"
        )
    out.append(f"- rejected rows (dataset `out_threshold_rejects`): {summary['n_rejects']}\n")
    if len(rejects):
        counts = rejects.groupby("reason").size().reset_index(name="concepts")
        out.append("\n" + _table(counts, ["reason", "concepts"]))
        out.append("\n" + _table(rejects.head(30), ["domain", "model", "concept", "reason"]))
        if len(rejects) > 30:
            out.append(f"\n... and {len(rejects) - 30} more in `out_threshold_rejects`.\n")
    out.append(
        f"\n- The paper's penalty ({params.paper.penalty:g}) is in squared score units: whether PELT "
        "splits depends on the score scale, the number of concepts and the noise, not only on the "
        "step (see the penalty-sensitivity plot).\n"
    )
    out.append(
        "- The change point sees only the rank order of counts: the threshold depends on how "
        "densely concepts sample the count axis near it; the CI shows how much.\n"
    )
    return "".join(out)
