"""Experiment tracking with kedro-mlflow: the store per env, artefact entries, per-epoch metrics,
and a real run whose MLflow run holds the threshold report and figure."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.fixtures.project import copy_project, run_script

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = "imitation_kedro.datasets.mlflow_artifact.VersionedMlflowArtifactDataset"
TRACKED = {
    "threshold": ["rpt_threshold_figure", "rpt_threshold_sensitivity_plot", "rpt_threshold_report"],
    "backdoor": ["rpt_backdoor_accuracy_vs_asr", "rpt_backdoor_report"],
}
ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "1",
    "IMITATION_KEDRO_PROGRESS": "0",
    "HF_HUB_OFFLINE": "1",
    "MPLBACKEND": "Agg",
}


def _mlflow_config(env: str):
    from kedro.config import OmegaConfigLoader
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig

    from imitation_kedro.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(
        conf_source=str(ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        config_patterns=CONFIG_LOADER_ARGS["config_patterns"],
    )
    return KedroMlflowConfig.model_validate(loader["mlflow"])


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """A throw-away SQLite store, created once (its schema migration takes seconds)."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    yield root
    mlflow.set_tracking_uri(previous)


@pytest.fixture
def tmp_store(store_dir, request):
    """mlflow and a fresh experiment whose artefacts stay in the temporary store."""
    import mlflow

    name = request.node.name
    experiment = mlflow.create_experiment(name, artifact_location=(store_dir / name).as_uri())
    yield mlflow, experiment
    while mlflow.active_run():
        mlflow.end_run()


def test_default_store_is_mlruns_and_the_test_env_keeps_out_of_it():
    base = _mlflow_config("local")
    assert base.server.mlflow_tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert base.tracking.experiment.name == "imitation_kedro"
    test = _mlflow_config("test")
    assert test.server.mlflow_tracking_uri.startswith("sqlite:///data/")
    assert test.tracking.experiment.create_experiment_kwargs.artifact_location.startswith("data/")
    assert "mlruns/" in (ROOT / ".gitignore").read_text().split()
    paper = _mlflow_config("paper")
    assert paper.tracking.experiment.name == "imitation_kedro_paper"
    assert paper.tracking.params.long_params_strategy == "truncate"


@pytest.mark.parametrize("pipeline", sorted(TRACKED))
def test_reports_and_figures_are_versioned_mlflow_artefacts(pipeline):
    catalog = yaml.safe_load((ROOT / f"conf/base/catalog_{pipeline}.yml").read_text())
    for name in TRACKED[pipeline]:
        entry = catalog[name]
        assert entry["type"] == WRAPPER and entry["versioned"] is True, name
        assert entry["artifact_path"] == pipeline and "versioned" not in entry["dataset"], name


def test_wrapped_dataset_saves_under_the_run_version_and_logs_the_file(tmp_path, tmp_store):
    from kedro.io import DataCatalog
    from mlflow.tracking import MlflowClient

    mlflow, experiment = tmp_store
    version = "2026-01-02T03.04.05.678Z"
    report = tmp_path / "report.md"
    catalog = DataCatalog.from_config(
        {
            "rpt_report": {
                "type": WRAPPER,
                "versioned": True,
                "artifact_path": "reports",
                "dataset": {"type": "text.TextDataset", "filepath": str(report)},
            },
            "out_table": {
                "type": "json.JSONDataset",
                "filepath": str(tmp_path / "t.json"),
                "versioned": True,
            },
        },
        save_version=version,
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        catalog.save("rpt_report", "# hello\n")
        catalog.save("out_table", {"a": 1})
    assert (report / version / "report.md").read_text() == "# hello\n"
    assert (tmp_path / "t.json" / version / "t.json").exists()
    logged = [a.path for a in MlflowClient().list_artifacts(run.info.run_id, "reports")]
    assert logged == ["reports/report.md"]
    assert catalog.load("rpt_report") == "# hello\n"


def test_versioned_inside_the_wrapped_dataset_is_refused():
    from imitation_kedro.datasets.mlflow_artifact import VersionedMlflowArtifactDataset

    with pytest.raises(ValueError, match="put `versioned: true` on the catalog entry"):
        VersionedMlflowArtifactDataset(
            {"type": "text.TextDataset", "filepath": "x.md", "versioned": True}
        )


def test_epoch_metrics_go_to_the_active_run_only(tmp_store):
    from mlflow.tracking import MlflowClient

    from imitation_kedro.pipelines.backdoor.tracking import epoch_metrics, log_epoch

    mlflow, experiment = tmp_store
    row = {"model": "mmcl-seed0", "epoch": 1, "test_acc1": 0.5, "selection_asr1": 0.9, "lr": 1e-3}
    assert epoch_metrics("pretrain-mmcl-seed0", row) == {
        "pretrain-mmcl-seed0/test_acc1": 0.5,
        "pretrain-mmcl-seed0/selection_asr1": 0.9,
    }
    log_epoch("pretrain-mmcl-seed0", row)  # no active run: nothing logged, no run created
    assert mlflow.active_run() is None
    with mlflow.start_run(experiment_id=experiment) as run:
        for epoch, acc in ((0, 0.2), (1, 0.5), (2, 0.6)):
            log_epoch("pretrain-mmcl-seed0", row | {"epoch": epoch, "test_acc1": acc})
    history = MlflowClient().get_metric_history(run.info.run_id, "pretrain-mmcl-seed0/test_acc1")
    assert [(m.step, m.value) for m in history] == [(0, 0.2), (1, 0.5), (2, 0.6)]
    assert len(mlflow.search_runs([experiment])) == 1


RUN_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    root = Path(sys.argv[1])
    bootstrap_project(root)
    name = "threshold_user_table"  # reads only a user's score table (and optional extras)
    assert "raw_user_scores" in pipelines[name].inputs()
    with KedroSession.create(project_path=root, env="test") as session:
        session.run(pipeline_names=[name])
    print("RESULT" + json.dumps({"pipeline": name}))
""")


@pytest.mark.slow
def test_a_kedro_run_is_an_mlflow_run_with_the_report_and_figure(tmp_path):
    """The user-table threshold pipeline in a project copy, on the default store (mlruns/)."""
    from mlflow.tracking import MlflowClient

    copy_project(tmp_path)
    (tmp_path / "conf/test/mlflow.yml").unlink()  # the base store, as `kedro run` uses it
    proc = run_script(tmp_path, RUN_SCRIPT, ENV)
    assert proc.returncode == 0, proc.stderr[-4000:]
    pipeline = json.loads(proc.stdout.split("RESULT", 1)[1])["pipeline"]

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns/mlflow.db'}")
    experiment = client.get_experiment_by_name("imitation_kedro")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == pipeline
    artefacts = Path(urlparse(run.info.artifact_uri).path)
    assert artefacts.is_relative_to(tmp_path / "mlruns")
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "threshold")}
    assert logged == {
        "threshold/threshold_report.md",
        "threshold/threshold_report.html",
        "threshold/threshold_figure.png",
        "threshold/threshold_sensitivity.png",
    }
    (report,) = (tmp_path / "data/08_reporting/threshold_report.md").glob("*/threshold_report.md")
    assert (artefacts / "threshold/threshold_report.md").read_text() == report.read_text()
    assert any(key.startswith("threshold") for key in run.data.params)
    found = {k: v for k, v in run.data.metrics.items() if k.startswith("fit.threshold/")}
    assert found and all(v > 0 for v in found.values()), run.data.metrics
    assert run.data.tags["kedro_command"].startswith("kedro run")
