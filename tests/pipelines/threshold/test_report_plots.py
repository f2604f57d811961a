"""The report's figures read at a glance: integer count axes, legends off the data, titles clear
of the panels, cap lines labelled (thresholds, penalty sweep, generation grid, backdoor scatter)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.pipelines.backdoor.figures import accuracy_vs_asr_figure
from imitation_kedro.pipelines.generation.grids import overview_figure
from imitation_kedro.pipelines.threshold import nodes, plots


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _run(tables, params):
    counts = np.arange(40) * 100 + 130
    scores = np.where(np.arange(40) >= 20, 0.6, 0.2) + np.random.default_rng(5).normal(0, 0.05, 40)
    freq, sc = tables(counts, scores)
    concepts, prompts, _, _ = nodes.prepare_threshold_inputs(freq, sc, params)
    curves = nodes.fit_imitation_curves(concepts, params.logistic)
    table, _ = nodes.detect_thresholds(concepts, prompts, curves, params)
    return concepts, curves, table


def _legend_outside(fig, ax) -> bool:
    renderer = _drawn(fig)
    legend = ax.get_legend()
    return legend is not None and (
        legend.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0
    )


def test_threshold_figure_legend_below_and_integer_labels(tables, fast_params):
    concepts, curves, table = _run(tables, fast_params)
    fig = plots.threshold_figure(concepts, table, curves)
    ax = fig.axes[0]
    assert _legend_outside(fig, ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "paper: 2,130" in labels, labels
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"[\d,]+", t) for t in ticks), ticks


def test_sensitivity_plot_integer_ticks_and_legend_off_the_curve(tables, fast_params):
    concepts, _, _ = _run(tables, fast_params)
    sens = nodes.sweep_penalties(concepts, fast_params.sensitivity, fast_params.paper)
    fig = plots.sensitivity_figure(sens, fast_params.paper.penalty)
    ax, twin = fig.axes[0], fig.axes[-1]
    assert _legend_outside(fig, ax)
    for axis in (ax.yaxis, twin.yaxis):
        shown = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
        assert shown and all(re.fullmatch(r"-?[\d,]+", s.replace("\u2212", "-")) for s in shown), (
            shown
        )


def test_generation_grid_has_column_headers_and_a_clear_title():
    manifest = pd.DataFrame(
        [
            {"concept": c, "prompt_id": p, "index": i, "path": f"{c}/{p}/{i}.png"}
            for c in ("ada", "bo")
            for p in (0, 1)
            for i in (0, 1)
        ]
    )
    images = {path: (lambda: Image.new("RGB", (8, 8), "grey")) for path in manifest["path"]}
    fig = overview_figure(manifest, images, ["ada", "bo"], 2, title="miniature: first 2 image(s)")
    renderer = _drawn(fig)
    heads = [ax.get_title() for ax in fig.axes[:4]]
    assert heads == [
        "prompt 0\nimage 1",
        "prompt 0\nimage 2",
        "prompt 1\nimage 1",
        "prompt 1\nimage 2",
    ]
    top_of_headers = max(ax.title.get_window_extent(renderer).y1 for ax in fig.axes[:4])
    assert fig._suptitle.get_window_extent(renderer).y0 >= top_of_headers


def test_backdoor_plot_legend_off_the_data_and_caps_labelled():
    rows = [
        {
            "pretrain_objective": obj,
            "clean_objective": clean,
            "epoch": e,
            "test_asr1": 0.9 - 0.1 * e,
            "test_acc1": 0.3 + 0.01 * e,
        }
        for obj in ("mmcl", "ssl")
        for clean in ("ssl", "mmcl_ssl")
        for e in range(4)
    ]
    fig = accuracy_vs_asr_figure(pd.DataFrame(rows), [0.05, 0.1], "badnet")
    renderer = _drawn(fig)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    legend_top = fig.legends[0].get_window_extent(renderer).y1
    assert all(legend_top <= ax.get_window_extent(renderer).y0 for ax in fig.axes)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["ASR cap 5%", "ASR cap 10%"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["cleaned: mmcl_ssl", "cleaned: ssl", "poisoned (before cleaning)"]
