"""Nodes called directly: thresholds, CIs, sensitivity, curves, plots and report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold import nodes


def _run(freq, scores, params):
    concepts, prompts, rejects, summary = nodes.prepare_threshold_inputs(freq, scores, params)
    curves = nodes.fit_imitation_curves(concepts, params.logistic)
    table, draws = nodes.detect_thresholds(concepts, prompts, curves, params)
    return concepts, prompts, rejects, summary, curves, table, draws


def test_step_gives_threshold_ci_and_deterministic_draws(tables, step_data, fast_params):
    counts, scores = step_data
    freq, sc = tables(counts, scores, prompt_sd=0.05)
    *_, curves, table, draws = _run(freq, sc, fast_params)
    assert list(table["method"]) == ["paper", "segmented"]
    for row in table.itertuples(index=False):
        assert row.status == "threshold" and row.change_index == 20
        assert row.threshold == 310 and row.threshold_concept == "concept 020"
        assert row.ci_low <= 310 <= row.ci_high and row.boot_found_rate > 0.9
        assert row.mean_before == pytest.approx(scores[:20].mean())
        assert row.mean_after == pytest.approx(scores[20:].mean())
        assert row.n_concepts == 40 and row.n_resamples == 30
    assert table.loc[0, "engine_check"] == "ok" and table.loc[0, "penalty"] == 0.9
    assert table.loc[1, "p_value"] == pytest.approx(0.01)
    assert 250 < table.loc[0, "logistic_midpoint"] < 400
    assert len(draws) == 60 and set(draws["method"]) == {"paper", "segmented"}
    again = _run(freq, sc, fast_params)
    pd.testing.assert_frame_equal(table, again[5])
    pd.testing.assert_frame_equal(draws, again[6])
    other_seed = _run(freq, sc, ThresholdParams(**{**fast_params.to_dict(), "seed": 1}))[6]
    assert not draws.equals(other_seed)


def test_nested_bootstrap_widens_with_prompt_noise(tables, fast_params):
    rng = np.random.default_rng(0)
    counts = np.arange(30) * 7 + 1
    scores = np.where(np.arange(30) >= 15, 0.5, 0.2) + rng.normal(0, 0.03, 30)
    params = ThresholdParams(
        **{**fast_params.to_dict(), "methods": ["segmented"], "bootstrap": {"n_resamples": 60}}
    )
    quiet = _run(*tables(counts, scores, prompt_sd=0.0), params)[6]
    noisy = _run(*tables(counts, scores, prompt_sd=0.6, n_prompts=5), params)[6]
    assert noisy["cp"].std() > quiet["cp"].std()


def test_degenerate_groups_are_documented_not_crashes(tables, fast_params):
    freq, sc = tables(np.arange(5) + 1, [0.1, 0.2, 0.3, 0.4, 0.5], models=("few",))
    freq2, sc2 = tables(np.arange(12) + 1, np.full(12, 0.25), models=("flat",))
    sc2["concept"] = sc2["concept"].str.replace("concept", "other")
    freq2["concept"] = freq2["concept"].str.replace("concept", "other")
    freq_all, sc_all = pd.concat([freq, freq2]), pd.concat([sc, sc2])
    *_, rejects, summary, curves, table, draws = _run(freq_all, sc_all, fast_params)
    reasons = {(r.model, r.method): r.reason for r in table.itertuples(index=False)}
    assert reasons[("few", "paper")].startswith("too few concepts: 5 < min_concepts 6")
    assert reasons[("flat", "segmented")] == "all scores are equal: nothing changes"
    assert (table["status"] == "no_threshold").all() and draws.empty
    # The two models share no concept: each is listed as unscored for the other model.
    assert len(rejects) == 17 and set(rejects["reason"]) == {"no row in prm_imitation_scores"}
    flat_curve = curves[curves["model"] == "flat"].iloc[0]
    assert "not fitted" in flat_curve["logistic_note"]
    sens = nodes.sweep_penalties(
        pd.concat([_run(freq, sc, fast_params)[0]]), fast_params.sensitivity, fast_params.paper
    )
    assert set(sens["kind"]) == {"grid", "paper", "bic"}


def test_sensitivity_matches_the_paper_row(tables, step_data, fast_params):
    counts, scores = step_data
    concepts, *_, table, _ = _run(*tables(counts, scores), fast_params)
    sens = nodes.sweep_penalties(concepts, fast_params.sensitivity, fast_params.paper)
    paper = sens[sens["kind"] == "paper"].iloc[0]
    assert paper["threshold"] == table.loc[0, "threshold"] and paper["penalty"] == 0.9
    grid = sens[sens["kind"] == "grid"].sort_values("penalty")
    assert len(grid) == 5
    assert grid["n_change_points"].is_monotonic_decreasing  # more penalty, fewer changes


def test_figures_and_report_read_well(tables, step_data, fast_params):
    counts, scores = step_data
    freq, sc = tables(counts, scores)
    freq.loc[3, "estimate"] = np.nan
    params = ThresholdParams(
        **{**fast_params.to_dict(), "exclude": ["concept 007"], "embed_figures": True}
    )
    concepts, _, rejects, summary, curves, table, _ = _run(freq, sc, params)
    sens = nodes.sweep_penalties(concepts, params.sensitivity, params.paper)
    fig, png = nodes.plot_threshold_figure(concepts, table, curves)
    fig2, png2 = nodes.plot_penalty_sensitivity(sens, params.paper)
    assert png.startswith(b"\x89PNG") and png2.startswith(b"\x89PNG")
    assert len(fig.axes) >= 1 and fig.axes[0].get_xscale() == "symlog"
    report = nodes.write_threshold_report(summary, rejects, table, sens, concepts, None, params)
    for text in (
        "# Imitation thresholds",
        "## Inputs",
        "`prm_concept_frequencies`: 40 rows",
        "## Method",
        "penalty 0.9",
        "## Thresholds",
        "| style | m1 | paper | threshold | 310",
        "## Plots",
        "rpt_threshold_figure",
        "![Score vs count](rpt_threshold_figure)",
        "## Caveats",
        "excluded by parameter: concept 007",
        "count is missing/NaN",
        "concept 003",
        "38 concepts after checks",
    ):
        assert text in " ".join(report.split()), text  # to_markdown pads table cells


def test_linear_log_segmented_only_run(tables):
    rng = np.random.default_rng(8)
    counts = np.round(np.geomspace(1, 1e5, 50)) + np.arange(50)
    x = np.log10(1 + counts)
    scores = 0.2 + 0.01 * x + np.where(np.arange(50) >= 25, 0.3, 0.0) + rng.normal(0, 0.03, 50)
    params = ThresholdParams(
        methods=["segmented"],
        segmented={"form": "linear_log", "n_permutations": 99},
        bootstrap={"n_resamples": 10},
        logistic=False,
    )
    *_, curves, table, draws = _run(*tables(counts, scores), params)
    (row,) = table.itertuples(index=False)
    assert row.method == "segmented" and row.status == "threshold"
    assert abs(row.change_index - 25) <= 1 and row.p_value <= 0.02
    assert curves["logistic_note"].tolist() == ["disabled (threshold.logistic: false)"]
    assert '"form": "linear_log"' in row.parameters and len(draws) == 10
