"""Every node of the ``threshold`` pipeline: pure functions of tables and parameters.

The nodes that read most of the block take ``params:threshold`` (typed ``ThresholdParams``); the
others take the sub-block they read (``params:threshold.paper``, ``.sensitivity``, ``.logistic``).
Kedro hands those out as fields of the typed block (so they exist in every env, defaults
included), annotated ``FromBlock[...]``: Kedro cannot type a block and one of its sub-blocks in
the same run. No torch/diffusers/open_clip here or in anything imported from
here (a test checks it).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from imitation_kedro.core.params import FromBlock
from imitation_kedro.core.progress import progress
from imitation_kedro.core.threshold_params import (
    PaperParams,
    SensitivityParams,
    ThresholdParams,
)
from imitation_kedro.pipelines.threshold import curves as _curves
from imitation_kedro.pipelines.threshold import plots as _plots
from imitation_kedro.pipelines.threshold.detect import detect_group
from imitation_kedro.pipelines.threshold.inputs import GROUP, prepare_tables
from imitation_kedro.pipelines.threshold.report import build_html, build_report
from imitation_kedro.pipelines.threshold.truth import compare_with_truth
from imitation_kedro.schemas import column_names

logger = logging.getLogger(__name__)

SENSITIVITY_COLUMNS = [
    "concept_set",
    "domain",
    "model",
    "kind",
    "penalty",
    "n_change_points",
    "change_index",
    "threshold",
]
DRAW_COLUMNS = ["concept_set", "domain", "model", "method", "draw", "cp", "threshold"]


def prepare_threshold_inputs(
    frequencies: pd.DataFrame,
    scores: pd.DataFrame,
    params: ThresholdParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Join the FIT chain's counts and scores, check, exclude, sort stably.

    Returns per-concept rows, per-prompt rows, rejected rows and an input summary.
    """
    return prepare_tables(frequencies, scores, None, params)


def prepare_user_table_inputs(
    user_table: pd.DataFrame,
    params: ThresholdParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Read a user's own count/score table instead; the same checks, exclusions and sort."""
    return prepare_tables(None, None, user_table, params)


def fit_imitation_curves(concepts: pd.DataFrame, logistic: bool) -> pd.DataFrame:
    """Logistic score-vs-log-count curve per (concept_set, model); empty notes when disabled."""
    rows = []
    for (cset, domain, model), g in concepts.groupby(GROUP, sort=True):
        if logistic:
            fit = _curves.fit_logistic(g["count"].to_numpy(), g["score"].to_numpy())
        else:
            fit = {"logistic_note": "disabled (threshold.logistic: false)"}
        rows.append({"concept_set": cset, "domain": domain, "model": model, **fit})
    cols = [
        "concept_set",
        "domain",
        "model",
        "logistic_b0",
        "logistic_b1",
        "logistic_midpoint",
        "logistic_low",
        "logistic_high",
        "logistic_note",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def detect_thresholds(
    concepts: pd.DataFrame, prompts: pd.DataFrame, curves: pd.DataFrame, params: ThresholdParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The thresholds table (one row per group and method) and the bootstrap draws."""
    rows: list[dict[str, Any]] = []
    draws: list[pd.DataFrame] = []
    groups = list(concepts.groupby(GROUP, sort=True))
    for (cset, domain, model), g in progress(groups, desc="threshold groups", unit="group"):
        p = prompts[(prompts["concept_set"] == cset) & (prompts["model"] == model)]
        group_rows, group_draws = detect_group(
            cset, model, g.reset_index(drop=True), p, params, domain=domain
        )
        rows.extend(group_rows)
        draws.extend(group_draws)
    table = pd.DataFrame(rows, columns=column_names("out_thresholds"))
    if len(curves):
        fit = curves.set_index(GROUP)
        keys = pd.MultiIndex.from_frame(table[GROUP])
        table["logistic_midpoint"] = fit["logistic_midpoint"].reindex(keys).to_numpy()
        table["logistic_note"] = fit["logistic_note"].reindex(keys).fillna("").to_numpy()
    for col in ("change_index", "second_change_index", "n_concepts", "n_tied", "n_resamples"):
        table[col] = table[col].astype("int64")
    table["n_change_points"] = table["n_change_points"].astype("Float64")
    for r in table.itertuples(index=False):
        logger.info(
            "threshold %s/%s/%s: %s %s",
            r.concept_set,
            r.model,
            r.method,
            r.status,
            r.threshold if r.status == "threshold" else r.reason,
        )
    all_draws = pd.concat(draws, ignore_index=True) if draws else pd.DataFrame(columns=DRAW_COLUMNS)
    return table, all_draws


def summarise_threshold_metrics(thresholds: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """Each found threshold and its interval as tracking metrics,
    ``threshold/<concept_set>/<model>/<method>``.

    Groups without a threshold are left out (a metric cannot say "none"; the report does).
    """
    metrics: dict[str, dict[str, float | int]] = {}
    found = thresholds[thresholds["status"] == "threshold"]
    for r in found.itertuples(index=False):
        for name in ("threshold", "ci_low", "ci_high"):
            value = getattr(r, name)
            if pd.notna(value):
                key = f"{name}/{r.concept_set}/{r.model}/{r.method}"
                metrics[key] = {"value": float(value), "step": 0}
    return metrics


def sweep_penalties(
    concepts: pd.DataFrame,
    sensitivity: FromBlock[SensitivityParams],
    paper: FromBlock[PaperParams],
) -> pd.DataFrame:
    """Paper threshold and number of change points vs PELT penalty (log grid + BIC-like)."""
    grid = _curves.penalty_grid(
        sensitivity.penalty_min, sensitivity.penalty_max, sensitivity.n_penalties
    )
    rows = []
    for (cset, domain, model), g in concepts.groupby(GROUP, sort=True):
        key = {"concept_set": cset, "domain": domain, "model": model}
        if len(g) < 2 or g["score"].nunique() == 1:
            continue
        x, y = g["count"].to_numpy(float), g["score"].to_numpy(float)
        for kind, pens in (("grid", grid), ("paper", [paper.penalty])):
            for r in _curves.sweep_penalty(x, y, pens, paper.min_size, paper.jump):
                rows.append({**key, "kind": kind, **r})
        bic = _curves.bic_penalty(y)
        if sensitivity.include_bic and bic > 0:
            for r in _curves.sweep_penalty(x, y, [bic], paper.min_size, paper.jump):
                rows.append({**key, "kind": "bic", **r})
    table = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    table["n_change_points"] = table["n_change_points"].astype("int64")
    table["change_index"] = table["change_index"].astype("int64")
    return table


def plot_threshold_figure(
    concepts: pd.DataFrame, thresholds: pd.DataFrame, curves: pd.DataFrame
) -> tuple[Any, bytes]:
    """The paper's figure (score vs count, log x, change points, CI bands) and its PNG bytes."""
    fig = _plots.threshold_figure(concepts, thresholds, curves)
    return fig, _plots.figure_png(fig)


def plot_penalty_sensitivity(
    sensitivity: pd.DataFrame, paper: FromBlock[PaperParams]
) -> tuple[Any, bytes]:
    """Threshold vs penalty per group (the paper's penalty marked) and its PNG bytes."""
    fig = _plots.sensitivity_figure(sensitivity, paper.penalty)
    return fig, _plots.figure_png(fig)


def write_threshold_report(
    summary: dict[str, Any],
    rejects: pd.DataFrame,
    thresholds: pd.DataFrame,
    sensitivity: pd.DataFrame,
    concepts: pd.DataFrame,
    world_truth: pd.DataFrame | None,
    params: ThresholdParams,
) -> str:
    """The markdown handoff report; figures are linked by dataset name (the report dataset
    resolves the links), the world's truth compared when it covers these concepts."""
    comparison = compare_with_truth(thresholds, concepts, world_truth)
    return build_report(summary, rejects, thresholds, sensitivity, params, comparison)


def render_threshold_report_html(
    report: str, figure_png: bytes, sensitivity_png: bytes, params: ThresholdParams
) -> str:
    """The markdown report as one self-contained HTML page (figures inlined)."""
    figures = {"Score vs count": figure_png, "Penalty sensitivity": sensitivity_png}
    return build_html(report, figures, params.embed_figures)


__all__ = [
    "detect_thresholds",
    "fit_imitation_curves",
    "plot_penalty_sensitivity",
    "plot_threshold_figure",
    "prepare_threshold_inputs",
    "render_threshold_report_html",
    "sweep_penalties",
    "write_threshold_report",
]
