"""A run whose inputs another pipeline writes, before that pipeline ran: one short error naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from imitation_kedro.hooks import missing_inputs
from tests.fixtures.project import copy_project

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1", "IMITATION_KEDRO_PROGRESS": "0"}


def _identity(x):
    return x


def _catalog(tmp_path: Path) -> DataCatalog:
    csv = {"type": "pandas.CSVDataset"}
    return DataCatalog.from_config(
        {
            "raw_world_table": {**csv, "filepath": str(tmp_path / "world.csv")},
            "raw_same_folder": {**csv, "filepath": str(tmp_path / "world.csv")},  # another name
            "prm_counts": {**csv, "filepath": str(tmp_path / "counts.csv")},
            "raw_user_table": {**csv, "filepath": str(tmp_path / "user.csv")},
            "out_result": {**csv, "filepath": str(tmp_path / "out.csv")},
        }
    )


def _registry() -> dict[str, Pipeline]:
    world = Pipeline([Node(_identity, "params:seed", "raw_world_table", name="make_world")])
    counts = Pipeline([Node(_identity, "raw_world_table", "prm_counts", name="count")])
    report = Pipeline(
        [Node(lambda a, b, c: a, ["prm_counts", "raw_same_folder", "raw_user_table"], "out_result",
              name="report")]
    )
    return {"world": world, "counts": counts, "report": report, "__default__": world + counts + report}


def test_names_each_missing_input_and_the_pipeline_that_writes_it(tmp_path):
    registry, catalog = _registry(), _catalog(tmp_path)
    lines = missing_inputs(registry["report"], catalog, registry)
    assert len(lines) == 2, lines
    assert "prm_counts" in lines[0] and "`kedro run --pipelines counts` writes it" in lines[0]
    # found by location: the world writes that file under another name
    assert "raw_same_folder" in lines[1] and "`kedro run --pipelines world` writes it" in lines[1]
    assert not any("raw_user_table" in line for line in lines)  # nobody writes a user's table


def test_existing_inputs_and_inputs_the_run_writes_itself_pass(tmp_path):
    registry, catalog = _registry(), _catalog(tmp_path)
    # the whole chain writes the world's file before reading it under its other name
    assert missing_inputs(registry["__default__"], catalog, registry) == []
    catalog.save("prm_counts", pd.DataFrame({"a": [1]}))
    catalog.save("raw_world_table", pd.DataFrame({"a": [1]}))
    assert missing_inputs(registry["report"], catalog, registry) == []


def test_kedro_run_on_a_fresh_checkout_says_what_to_run_first(tmp_path):
    copy_project(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env", "test", "--pipelines", "threshold"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Traceback" not in text, text[-3000:]
    assert "prm_concept_frequencies" in text and "`kedro run --pipelines frequency` writes it" in text
    assert "prm_imitation_scores" in text and "`kedro run --pipelines similarity` writes it" in text
    assert "`kedro run --pipelines threshold_user_table`" in text  # the no-upstream alternative
    assert "raw_threshold_world_truth" not in text  # optional: the report does without it


def test_run_summary_ends_with_where_the_reports_are(tmp_path, caplog):
    """In-memory datasets stay out of the summary; the last lines are the saved report files."""
    import logging

    from kedro.io import Version

    from imitation_kedro.hooks import RunSummaryHook

    catalog = DataCatalog.from_config(
        {
            "rpt_report": {"type": "text.TextDataset", "filepath": str(tmp_path / "report.md"),
                           "versioned": True},
            "int_scratch": {"type": "MemoryDataset"},
        },
        load_versions={},
        save_version="2026-12-06T00.00.00.000Z",
    )
    assert isinstance(catalog.get("rpt_report")._version, Version)
    hook = RunSummaryHook()
    hook.before_pipeline_run(catalog)
    for name, data in (("rpt_report", "# report"), ("int_scratch", "x")):
        catalog.save(name, data)
        hook.after_dataset_saved(name, data)
    with caplog.at_level(logging.INFO, logger="imitation_kedro.hooks"):
        hook.after_pipeline_run()
    summary, reports = caplog.messages[-2:]
    assert "int_scratch" not in summary and "rpt_report" in summary
    (listed,) = reports.splitlines()[1:]
    saved = Path(listed.strip())
    assert saved.is_file() and saved.read_text() == "# report"
