"""The thresholds report as a reader meets it: plain markdown with linked figures, integers as
integers, every term defined, the world's truth compared, and a self-contained HTML twin."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import Version

from imitation_kedro.datasets.optional import OptionalDataset
from imitation_kedro.datasets.report import ReportDataset
from imitation_kedro.pipelines.threshold import nodes
from imitation_kedro.pipelines.threshold.report import TERMS
from imitation_kedro.pipelines.threshold.truth import best_cut, compare_with_truth

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@pytest.fixture
def big_counts_run(tables, fast_params):
    """40 concepts with counts in the thousands (the report once printed 1.03e+03)."""
    rng = np.random.default_rng(5)
    counts = np.arange(40) * 100 + 130  # rank 20 has count 2130
    scores = np.where(np.arange(40) >= 20, 0.6, 0.2) + rng.normal(0, 0.05, 40)
    freq, sc = tables(counts, scores)
    concepts, prompts, rejects, summary = nodes.prepare_threshold_inputs(freq, sc, fast_params)
    curves = nodes.fit_imitation_curves(concepts, fast_params.logistic)
    table, _ = nodes.detect_thresholds(concepts, prompts, curves, fast_params)
    sens = nodes.sweep_penalties(concepts, fast_params.sensitivity, fast_params.paper)
    return concepts, rejects, summary, table, sens


def _truth(concepts: pd.DataFrame, imitated_from: int) -> pd.DataFrame:
    """A world report for these concepts: imitated exactly from ``imitated_from`` images on."""
    counts = concepts["count"].round().astype(int)
    return pd.DataFrame(
        {
            "concept": concepts["concept"],
            "true_image_count": counts,
            "imitated": counts >= imitated_from,
        }
    )


def test_markdown_reads_as_text(big_counts_run, fast_params):
    concepts, rejects, summary, table, sens = big_counts_run
    md = nodes.write_threshold_report(summary, rejects, table, sens, concepts, None, fast_params)
    assert "base64" not in md and len(md) < 20_000
    assert "![Score vs count](rpt_threshold_figure)" in md
    assert "![Penalty sensitivity](rpt_threshold_sensitivity_plot)" in md
    assert not re.search(r"\de[+-]\d", md), re.findall(r".{20}\de[+-]\d.{10}", md)
    flat = " ".join(md.split())
    assert "| style | m1 | paper | threshold | 2130 |" in flat
    assert re.search(r"\| \d{4}-\d{4} \|", flat)  # the CI, both ends integers
    assert "imitation from **2130** training images" in md  # the at-a-glance line
    for term in TERMS:  # every term defined once, in the Terms section
        assert md.count(f"- **{term}**:") == 1, term
    assert "rule F9" in md and "l2" in md
    assert "## Compared with the miniature world" not in md  # no truth given
    assert "## Logistic midpoint vs threshold" in md and "x the midpoint" in md


def test_report_compares_with_the_worlds_truth(big_counts_run, fast_params):
    concepts, rejects, summary, table, sens = big_counts_run
    truth = _truth(concepts, imitated_from=2130)
    md = nodes.write_threshold_report(summary, rejects, table, sens, concepts, truth, fast_params)
    assert "## Compared with the miniature world's known truth" in md
    comparison = compare_with_truth(table, concepts, truth)
    assert list(comparison["method"]) == ["paper", "segmented"]
    assert comparison["agreement"].tolist() == [1.0, 1.0]
    assert comparison["true_cut"].tolist() == [2130, 2130]
    assert comparison["n_imitated"].tolist() == [20, 20]
    flat = " ".join(md.split())
    assert "| style | m1 | paper | 2130 | 100% | 2130 | 100% | 20 | 40 |" in flat
    # Truth for other concepts (a user table, paper scale) is not compared.
    other = truth.assign(concept=[f"x{i}" for i in range(len(truth))])
    assert compare_with_truth(table, concepts, other).empty


def test_best_cut_matches_imitated():
    counts = np.array([1, 5, 10, 50, 100, 500])
    assert best_cut(counts, counts >= 50) == (50, 1.0)
    cut, agree = best_cut(counts, np.array([0, 0, 1, 0, 1, 1], bool))
    assert cut == 10 and agree == pytest.approx(5 / 6)


def test_html_is_self_contained(big_counts_run, fast_params):
    concepts, rejects, summary, table, sens = big_counts_run
    md = nodes.write_threshold_report(summary, rejects, table, sens, concepts, None, fast_params)
    params = type(fast_params)(**{**fast_params.to_dict(), "embed_figures": True})
    html = nodes.render_threshold_report_html(md, PNG, PNG, params)
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html
    assert html.count('src="data:image/png;base64,') == 2
    linked = nodes.render_threshold_report_html(md, PNG, PNG, fast_params)
    assert 'src="rpt_threshold_figure"' in linked and "base64" not in linked


def test_report_dataset_links_the_figures_of_its_run(tmp_path):
    version = Version(None, "2026-01-01T00.00.00.000Z")
    figure = tmp_path / "reporting/threshold_figure.png"
    (figure / version.save).mkdir(parents=True)
    (figure / version.save / "threshold_figure.png").write_bytes(PNG)
    ds = ReportDataset(
        filepath=str(tmp_path / "reporting/report.md"),
        figures={"rpt_threshold_figure": str(figure)},
        version=version,
    )
    ds.save("# R\n\n![Score vs count](rpt_threshold_figure)\n")
    saved = tmp_path / "reporting/report.md" / version.save / "report.md"
    link = "../../threshold_figure.png/2026-01-01T00.00.00.000Z/threshold_figure.png"
    assert f"]({link})" in saved.read_text()
    assert (saved.parent / link).resolve().read_bytes() == PNG  # the link opens the figure
    preview = ds.preview()
    assert "<h1>R</h1>" in preview and 'src="data:image/png;base64,' in preview
    plain = ReportDataset(
        filepath=str(tmp_path / "flat.md"), figures={"f": str(tmp_path / "f.png")}
    )
    plain.save("![x](f)")
    assert (tmp_path / "flat.md").read_text() == "![x](f.png)"


def test_optional_dataset_loads_none_until_written(tmp_path):
    path = tmp_path / "world_report.csv"
    ds = OptionalDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(path), "versioned": True}
    )
    assert ds.load() is None and ds.exists()
    (path / "2026-01-01T00.00.00.000Z").mkdir(parents=True)
    pd.DataFrame({"concept": ["a"], "imitated": [True]}).to_csv(
        path / "2026-01-01T00.00.00.000Z/world_report.csv", index=False
    )
    assert OptionalDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(path), "versioned": True}
    ).load()["concept"].tolist() == ["a"]


def test_image_grids_have_kedro_viz_previews(tmp_path):
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from imitation_kedro.datasets.previews import FigureFolderDataset, ImageFolderDataset

    figures = FigureFolderDataset(
        filepath=str(tmp_path / "grids"), version=Version(None, "2026-01-01T00.00.00.000Z")
    )
    figures.save({"b.png": plt.figure(), "a.png": plt.figure()})  # a folder of figures
    assert base64.b64decode(figures.preview()).startswith(b"\x89PNG")
    grids = ImageFolderDataset(
        path=str(tmp_path / "mosaics"), dataset="pillow.ImageDataset", filename_suffix=".png"
    )
    grids.save({"m/x": Image.new("RGB", (4, 4)), "m/a": Image.new("RGB", (4, 4))})
    assert base64.b64decode(grids.preview()).startswith(b"\x89PNG")
