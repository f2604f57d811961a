"""The handoff report: markdown a data team can read without the code (figures linked as files)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.threshold_params import ThresholdParams

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

# Each term of the report, defined once (the "Terms" section).
TERMS = {
    "concept_set": "the group of concepts a threshold is found for (a domain, or a concept set "
    "that splits one; see docs/extending.md).",
    "count": "training images that show the concept (the input's count column).",
    "score": "imitation score: how closely the model's generations resemble the concept's "
    "reference images, averaged over prompts.",
    "threshold": "the count of the first concept after the change point, in ascending count "
    "order: from this many training images on, the model imitates the concept.",
    "CI": "bootstrap confidence interval of the threshold (percentile, the level in Method).",
    "found": "share of bootstrap draws in which a change point was found.",
    "threshold_concept": "the concept at the change point.",
    "second_threshold": "the count at the second change point (paper method), if any.",
    "p_value": "segmented method: Monte-Carlo p-value of the sup-F test of *no break*.",
    "mean_before / mean_after": "mean score of the concepts below / from the threshold.",
    "logistic_midpoint": "count at which the fitted logistic curve is half-way between the lowest "
    "and the highest score (see below).",
    "n_concepts": "concepts in the sorted sequence after the checks.",
    "l2": 'PELT\'s cost (`model="l2"`): squared distance of each score to its segment mean.',
    "penalty": "PELT's price for one more change point, in squared score units.",
    "rule F9": "ties: concepts with equal counts are ordered by concept name, so the order "
    "(and the threshold) does not depend on row order.",
    "reject": "a row left out by the checks, with its reason (dataset `out_threshold_rejects`).",
}

COUNT_COLUMNS = {"threshold", "second_threshold", "logistic_midpoint", "n_concepts"}
SHARE_COLUMNS = {"found", "agreement", "true_agreement"}


def fmt_count(value: Any) -> str:
    """A count as an integer ("1030"), "-" when missing."""
    if value is None or not np.isfinite(float(value)):
        return "-"
    return str(int(round(float(value))))


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer() and abs(value) >= 1:
            return str(int(value))
        if abs(value) < 10 ** -digits:
            return f"<{10 ** -digits:.{digits}f}" if value > 0 else f"{value:.{digits}f}"
        return f"{value:.{digits}f}" if abs(value) < 1e4 else str(int(round(value)))
    return str(value)


def _cell(column: str, value: Any) -> str:
    if column in COUNT_COLUMNS:
        return fmt_count(value)
    if column in SHARE_COLUMNS and value is not None and np.isfinite(float(value)):
        return f"{float(value):.0%}"
    return _fmt(value)


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    """``columns`` of ``df`` as a markdown pipe table (counts as integers, no exponents)."""
    if df.empty:
        return "_(none)_\n"
    cells = pd.DataFrame(
        {c: [_cell(c, v).replace("|", "/") for v in df[c]] for c in columns}, index=df.index
    )
    return cells.to_markdown(index=False, disable_numparse=True) + "\n"


def _ci(lo: Any, hi: Any) -> str:
    return f"{fmt_count(lo)}-{fmt_count(hi)}" if np.isfinite(lo) and np.isfinite(hi) else "-"


def _at_a_glance(thresholds: pd.DataFrame) -> list[str]:
    out = ["## At a glance\n\n"]
    for r in thresholds.itertuples(index=False):
        head = f"- {r.concept_set} / {r.model} ({r.method} method): "
        if r.status == "threshold":
            ci = _ci(r.ci_low, r.ci_high)
            level = f"{r.ci_level:.0%} CI " if np.isfinite(r.ci_level) else "CI "
            out.append(
                f"{head}imitation from **{fmt_count(r.threshold)}** training images"
                + (f" ({level}{ci})" if ci != "-" else "")
                + f", {fmt_count(r.n_concepts)} concepts.\n"
            )
        else:
            out.append(f"{head}no threshold ({r.reason or r.status}).\n")
    return out


def _truth_section(comparison: pd.DataFrame) -> list[str]:
    if comparison.empty:
        return []
    out = [
        "\n## Compared with the miniature world's known truth\n\n",
        "The miniature world knows each concept's true image count and whether its model imitates "
        "it (`rpt_world_report`, column `imitated`). `agreement` = share of concepts where "
        '"true count >= threshold" matches `imitated`; `true_cut` = the single count that '
        "matches best (`true_agreement`), the threshold the pipeline should find.\n\n",
    ]
    out.append(
        _table(
            comparison.assign(true_cut=comparison["true_cut"].map(fmt_count)),
            [comparison.columns[0], "model", "method", "threshold", "agreement", "true_cut",
             "true_agreement", "n_imitated", "n_concepts"],
        )
    )
    return out


def _midpoint_section(thresholds: pd.DataFrame) -> list[str]:
    rows = thresholds[
        (thresholds["status"] == "threshold") & np.isfinite(thresholds["logistic_midpoint"])
    ]
    if rows.empty:
        return []
    out = [
        "\n## Logistic midpoint vs threshold\n\n",
        "The two answer different questions. The **threshold** is where the mean score steps up in "
        "count order: the first count from which concepts are imitated. The **logistic midpoint** "
        "is where a smooth S-curve fitted to all scores (rescaled to [0, 1] by their minimum and "
        "maximum) is half-way up. When scores creep up slowly before the step, or the most "
        "imitated concepts score far above the rest, the half-way point falls well below the "
        "step; a midpoint far from the threshold says the rise is gradual, not that either is "
        "wrong. Here:\n\n",
    ]
    for r in rows.itertuples(index=False):
        ratio = r.threshold / r.logistic_midpoint if r.logistic_midpoint > 0 else np.nan
        out.append(
            f"- {r.concept_set} / {r.model} ({r.method}): threshold {fmt_count(r.threshold)}, midpoint "
            f"{fmt_count(r.logistic_midpoint)}"
            + (f" (threshold {ratio:.1f}x the midpoint)" if np.isfinite(ratio) else "")
            + ".\n"
        )
    return out


def build_report(
    summary: dict[str, Any],
    rejects: pd.DataFrame,
    thresholds: pd.DataFrame,
    sensitivity: pd.DataFrame,
    params: ThresholdParams,
    comparison: pd.DataFrame | None = None,
) -> str:
    """Markdown: summary, inputs, method, thresholds, truth, plots (links), caveats, terms."""
    out = ["# Imitation thresholds\n\n"]
    out.append(
        "Where, in order of training-image count, a text-to-image model starts to imitate a concept "
        "(FIT: *How Many Van Goghs Does It Take to Van Gogh?*). One row per (concept_set, model, method); "
        "every term is defined under *Terms* at the end.\n\n"
    )
    out += _at_a_glance(thresholds)
    out.append("\n## Inputs\n\n")
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
            f"- **Bootstrap CI**: percentile bootstrap, {b.n_resamples} draws, level {b.level:.0%}: concepts "
            f"resampled with replacement{' and, nested, their prompts' if b.nested_prompts else ''}, "
            "re-sorted, change point re-detected; `found` counts the draws with a change point "
            "(the CI uses those draws only).\n"
        )
    if params.logistic:
        out.append(
            "- **Logistic curve**: fractional-logit GLM of the score (rescaled to [0, 1] by "
            "its min and max) on log10(1+count).\n"
        )
    out.append("\n## Thresholds\n\n")
    shown = thresholds.assign(
        CI=[_ci(lo, hi) for lo, hi in zip(thresholds["ci_low"], thresholds["ci_high"], strict=True)],
        found=thresholds["boot_found_rate"],
    )
    out.append(
        _table(
            shown,
            ["concept_set", "model", "method", "status", "threshold", "CI", "found",
             "threshold_concept", "second_threshold", "p_value", "mean_before", "mean_after",
             "logistic_midpoint", "n_concepts"],
        )
    )
    notes = thresholds[thresholds["reason"] != ""]
    if len(notes):
        out.append("\nWhy there is no threshold:\n\n")
        for r in notes.itertuples(index=False):
            out.append(f"- {r.concept_set} / {r.model} / {r.method}: {r.reason}\n")
    out += _truth_section(comparison if comparison is not None else pd.DataFrame())
    out += _midpoint_section(thresholds)
    out.append("\n## Plots\n\n")
    out.append(
        "![Score vs count](rpt_threshold_figure)\n\n*Score vs count* (dataset "
        "`rpt_threshold_figure`): one panel per (concept_set, model); vertical lines mark the "
        "thresholds, shaded bands their CIs.\n\n"
    )
    out.append(
        "![Penalty sensitivity](rpt_threshold_sensitivity_plot)\n\n*Penalty sensitivity* "
        "(dataset `rpt_threshold_sensitivity_plot`): the paper method's threshold (left axis) "
        "and number of change points (right axis) over a grid of PELT penalties.\n"
    )
    out += _sensitivity_summary(sensitivity)
    out += _caveats(summary, rejects, params)
    out.append("\n## Terms\n\n")
    out += [f"- **{term}**: {text}\n" for term, text in TERMS.items()]
    return "".join(out)


def _sensitivity_summary(sensitivity: pd.DataFrame) -> list[str]:
    if not len(sensitivity):
        return []
    grid = sensitivity[sensitivity["kind"] == "grid"]
    agg = (
        grid.groupby(["concept_set", "model"])
        .agg(
            distinct_thresholds=("threshold", lambda s: s.dropna().nunique()),
            penalties=("penalty", lambda s: f"{s.min():g}-{s.max():g}"),
        )
        .reset_index()
    )
    return [
        "\nDistinct thresholds over the penalty grid (paper method):\n\n",
        _table(agg, ["concept_set", "model", "distinct_thresholds", "penalties"]),
    ]


def _caveats(summary: dict[str, Any], rejects: pd.DataFrame, params: ThresholdParams) -> list[str]:
    out = ["\n## Caveats\n\n"]
    for entry in summary["n_concepts"]:
        out.append(f"- {entry['concept_set']} / {entry['model']}: {entry['n']} concepts after checks\n")
    out.append(
        f"- concepts sharing a count with another (ordered by name, rule F9): "
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
        out.append("\n" + _table(rejects.head(30), ["concept_set", "model", "concept", "reason"]))
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
    return out


def build_html(markdown: str, figures: dict[str, bytes | None], embed: bool) -> str:
    """The report as one HTML page. ``figures`` maps an image's alt text to its PNG; with
    ``embed`` each such image is inlined (a data URI), so the page stands alone; otherwise the
    links stay as they are (the report dataset resolves them)."""
    import base64
    import html as _html
    import re

    from imitation_kedro.datasets.report import render_markdown

    text = markdown
    if embed:
        for alt, png in figures.items():
            if png:
                uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                text = re.sub(rf"!\[{re.escape(alt)}\]\([^)]*\)", lambda _m, a=alt, u=uri: f"![{a}]({u})", text)
    body = render_markdown(text)
    title = _html.escape(markdown.splitlines()[0].lstrip("# ") if markdown else "Report")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;"
    "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em;"
    "display:block;overflow-x:auto}td{white-space:nowrap}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%;border:1px solid #eee}code{background:#f6f6f6;padding:0 .2em}"
)
