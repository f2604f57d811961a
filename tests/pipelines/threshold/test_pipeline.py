"""The pipeline: a slice on an in-memory catalog, a full KedroSession run, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold import create_pipeline
from imitation_kedro.pipelines.threshold.pipeline import create_user_table_pipeline
from tests.fixtures.project import copy_project, run_script

ROOT = Path(__file__).resolve().parents[3]
ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "1",
    "IMITATION_KEDRO_PROGRESS": "0",
    "HF_HUB_OFFLINE": "1",
    "MPLBACKEND": "Agg",
}


def test_every_node_is_named_and_outputs_are_declared():
    pipe = create_pipeline()
    assert {n.name for n in pipe.nodes} == {
        "prepare_threshold_inputs",
        "fit_imitation_curves",
        "detect_thresholds",
        "sweep_penalties",
        "summarise_threshold_metrics",
        "plot_threshold_figure",
        "plot_penalty_sensitivity",
        "write_threshold_report",
        "render_threshold_report_html",
    }
    import yaml

    catalog = yaml.safe_load((ROOT / "conf/base/catalog_threshold.yml").read_text())
    declared = DataCatalog.from_config(catalog)  # entries and dataset factories
    assert all(name in declared for name in pipe.all_outputs())
    assert all("layer" in e["metadata"]["kedro-viz"] for e in catalog.values())
    for name in (
        "out_thresholds",
        "rpt_threshold_figure",
        "rpt_threshold_sensitivity_plot",
        "rpt_threshold_report",
        "out_threshold_rejects",
    ):
        assert catalog[name]["versioned"] is True


def test_sliced_pipeline_on_in_memory_catalog(tables, step_data, fast_params, caplog, tmp_path):
    from kedro_datasets.pandas import ParquetDataset
    from kedro_datasets.text import TextDataset

    counts, scores = step_data
    freq, sc = tables(counts, scores)
    catalog = DataCatalog()
    catalog["prm_concept_frequencies"] = freq
    catalog["prm_imitation_scores"] = sc
    catalog["params:threshold"] = fast_params
    for key in ("logistic", "sensitivity", "paper"):  # the sub-blocks some nodes take
        catalog[f"params:threshold.{key}"] = getattr(fast_params, key)
    # Persisted (MemoryDatasets are released once their last consumer ran).
    catalog["out_thresholds"] = ParquetDataset(filepath=str(tmp_path / "thresholds.parquet"))
    catalog["rpt_threshold_report"] = TextDataset(filepath=str(tmp_path / "report.md"))
    catalog["raw_threshold_world_truth"] = pd.DataFrame()  # no world: no truth section
    catalog["rpt_threshold_report_html"] = TextDataset(filepath=str(tmp_path / "report.html"))
    pipe = create_pipeline().to_outputs("out_thresholds", "rpt_threshold_report_html")
    assert "plot_threshold_figure" in {n.name for n in pipe.nodes}
    SequentialRunner().run(pipe, catalog)
    table = catalog.load("out_thresholds")
    assert table["threshold"].tolist() == [310, 310]
    report = " ".join(catalog.load("rpt_threshold_report").split())  # to_markdown pads cells
    assert "| style | m1 | segmented | threshold | 310" in report
    assert "Pipeline execution completed successfully" in caplog.text


def test_each_entry_reads_only_its_own_input():
    """The lineage view draws what runs: FIT tables into `threshold`, the user table into
    `threshold_user_table`, then the same nodes."""
    fit, user = create_pipeline(), create_user_table_pipeline()
    truth = {"raw_threshold_world_truth"}  # optional: the report's comparison with the world
    assert fit.inputs() == {"prm_concept_frequencies", "prm_imitation_scores"} | truth | {
        i for i in fit.inputs() if i.startswith("params:")
    }
    assert user.inputs() == {"raw_user_scores"} | truth | {
        i for i in user.inputs() if i.startswith("params:")
    }
    rest = {n.name for n in fit.nodes} - {"prepare_threshold_inputs"}
    assert rest == {n.name for n in user.nodes} - {"prepare_user_table_inputs"}
    assert fit.all_outputs() == user.all_outputs()


RUN_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    root = Path(sys.argv[1])
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="test") as session:
        session.run(pipeline_names=["threshold_user_table"])
    heavy = sorted(m for m in ("torch", "diffusers", "open_clip", "transformers") if m in sys.modules)
    print("RESULT" + json.dumps({"heavy": heavy}))
""")


def test_kedro_run_on_the_example_user_table_without_torch(tmp_path):
    """`kedro run --pipelines threshold_user_table` in a project copy."""
    proc = run_script(copy_project(tmp_path), RUN_SCRIPT, ENV)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert result["heavy"] == []
    (table_file,) = (tmp_path / "data/07_model_output/thresholds.parquet").glob(
        "*/thresholds.parquet"
    )
    table = pd.read_parquet(table_file)
    user = pd.read_csv(ROOT / "examples/user_scores.csv")
    assert set(table["model"]) == {"sd11", "sd21"} and (table["status"] == "threshold").all()
    # The planted steps of the example file: rank 20 (sd11) and rank 23 (sd21).
    sorted_counts = sorted(user.loc[user["model"] == "sd11", "count"])
    expected = {"sd11": sorted_counts[20], "sd21": sorted_counts[23]}
    for row in table.itertuples(index=False):
        assert row.threshold == expected[row.model], row
    (report,) = (tmp_path / "data/08_reporting/threshold_report.md").glob("*/threshold_report.md")
    assert "`raw_user_scores`: 80 rows" in report.read_text()
    assert list(
        (tmp_path / "data/08_reporting/threshold_figure.png").glob("*/threshold_figure.png")
    )


def test_threshold_nodes_do_not_import_torch():
    code = textwrap.dedent("""
        import sys
        import numpy as np, pandas as pd
        from imitation_kedro.pipelines.threshold import create_pipeline, nodes
        from imitation_kedro.core.threshold_params import ThresholdParams
        p = ThresholdParams(bootstrap={"n_resamples": 5},
                            segmented={"n_permutations": 39})
        user = pd.DataFrame({"concept": [f"c{i}" for i in range(20)], "count": range(20),
                             "score": [0.1] * 10 + [0.9] * 10})
        c, pr, rej, s = nodes.prepare_user_table_inputs(user, p)
        cur = nodes.fit_imitation_curves(c, p.logistic)
        t, d = nodes.detect_thresholds(c, pr, cur, p)
        sens = nodes.sweep_penalties(c, p.sensitivity, p.paper)
        f, png = nodes.plot_threshold_figure(c, t, cur)
        f2, png2 = nodes.plot_penalty_sensitivity(sens, p.paper)
        md = nodes.write_threshold_report(s, rej, t, sens, c, None, p)
        nodes.render_threshold_report_html(md, png, png2, p)
        assert t["threshold"].tolist() == [10, 10], t
        print(sorted(m for m in ("torch", "diffusers", "open_clip", "transformers") if m in sys.modules))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_params_match_the_base_parameter_file():
    import yaml

    raw = yaml.safe_load((ROOT / "conf/base/parameters_threshold.yml").read_text())["threshold"]
    assert ThresholdParams(**raw) == ThresholdParams()
    for env in ("paper", "test"):
        extra = yaml.safe_load((ROOT / f"conf/{env}/parameters_threshold.yml").read_text())[
            "threshold"
        ]
        merged = {
            **raw,
            **{k: ({**raw[k], **v} if isinstance(v, dict) else v) for k, v in extra.items()},
        }
        ThresholdParams(**merged)
