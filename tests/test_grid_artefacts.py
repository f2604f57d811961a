"""Issue 16: generation and similarity grids are artefacts of the run's MLflow run, like the
threshold report (kedro-mlflow); versioned files on disk either way."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tests.fixtures.project import copy_project, run_script

ROOT = Path(__file__).resolve().parents[1]
FIGURES = "imitation_kedro.datasets.mlflow_grids.MlflowFiguresDataset"
IMAGES = "imitation_kedro.datasets.mlflow_grids.MlflowImageFolderDataset"
V1, V2 = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import mlflow

    root = tmp_path_factory.mktemp("grid_store")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    experiment = mlflow.create_experiment("grids", artifact_location=(root / "a").as_uri())
    yield mlflow, experiment
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    return fig


def _logged(run_id: str, folder: str, client=None) -> set[str]:
    from mlflow.tracking import MlflowClient

    client, out, todo = client or MlflowClient(), set(), [folder]
    while todo:
        for item in client.list_artifacts(run_id, todo.pop()):
            (todo.append(item.path) if item.is_dir else out.add(item.path))
    return out


@pytest.mark.parametrize(
    ("env", "file", "name", "kind", "artifact_path"),
    [
        ("base", "catalog_generation.yml", "rpt_generation_grid", FIGURES, "generation"),
        ("base", "catalog_generation.yml", "rpt_generation_concept_grids", IMAGES, "generation"),
        ("base", "catalog_similarity.yml", "rpt_similarity_grids", FIGURES, "similarity"),
        ("paper", "catalog_generation.yml", "fit.generation.{model}.rpt_generation_grid",
         FIGURES, "generation/{model}"),
        ("paper", "catalog_generation.yml", "fit.generation.{model}.rpt_generation_concept_grids",
         IMAGES, "generation"),
        ("paper", "catalog_similarity_models.yml", "fit.similarity.{model}.rpt_similarity_grids",
         FIGURES, "similarity/{model}"),
    ],
)
def test_grid_entries_are_versioned_mlflow_artefacts(env, file, name, kind, artifact_path):
    entry = yaml.safe_load((ROOT / "conf" / env / file).read_text())[name]
    assert entry["type"] == kind and entry["versioned"] is True
    assert entry["artifact_path"] == artifact_path
    if env == "paper":  # one folder per model: the namespaces share the run's save version
        assert "{model}" in entry.get("filepath", entry.get("path"))


def test_figures_are_logged_to_the_active_run_only(tmp_path, store):
    from kedro.io.core import Version

    from imitation_kedro.datasets.mlflow_grids import MlflowFiguresDataset

    mlflow, experiment = store

    def dataset(version: str) -> MlflowFiguresDataset:
        return MlflowFiguresDataset(
            filepath=str(tmp_path / "grids"), artifact_path="similarity",
            version=Version(None, version),
        )

    with mlflow.start_run(experiment_id=experiment) as run:
        dataset(V1).save({"a.png": _figure(), "b.png": _figure()})
        dataset("2026-01-01T00.00.00.500Z").save({})  # no concept to show: nothing, no error
    assert _logged(run.info.run_id, "similarity") == {"similarity/a.png", "similarity/b.png"}
    assert sorted(p.name for p in (tmp_path / "grids" / V1 / "grids").iterdir()) == [
        "a.png", "b.png"]
    runs_before = len(mlflow.search_runs([experiment]))
    dataset(V2).save({"a.png": _figure()})  # outside a run (tests, notebooks): saved, not logged
    assert mlflow.active_run() is None and len(mlflow.search_runs([experiment])) == runs_before
    assert (tmp_path / "grids" / V2 / "grids" / "a.png").exists()
    assert (tmp_path / "grids" / V1 / "grids" / "b.png").exists()  # the older version stays


def test_concept_mosaics_log_only_the_partitions_saved(tmp_path, store):
    from kedro.io.core import DatasetError, Version
    from PIL import Image

    from imitation_kedro.datasets.mlflow_grids import MlflowImageFolderDataset

    mlflow, experiment = store
    spec = {"path": str(tmp_path / "mosaics"), "dataset": {"type": "pillow.ImageDataset"},
            "filename_suffix": ".png", "artifact_path": "generation"}
    stray = tmp_path / "mosaics" / V1 / "mosaics" / "other" / "old.png"
    stray.parent.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(stray)  # another model's mosaic already in the folder
    first = MlflowImageFolderDataset(**spec, version=Version(None, V2))
    with mlflow.start_run(experiment_id=experiment) as run:
        first.save({"m1/alpha": lambda: Image.new("RGB", (8, 8), "red"),
                    "m1/beta": Image.new("RGB", (8, 8), "blue")})
    assert _logged(run.info.run_id, "generation") == {
        "generation/m1/alpha.png", "generation/m1/beta.png"}
    loaded = MlflowImageFolderDataset(**spec, version=Version(None, None)).load()
    assert sorted(loaded) == ["m1/alpha", "m1/beta"]  # the latest version
    assert loaded["m1/alpha"]().getpixel((0, 0)) == (255, 0, 0)
    assert first.preview()  # kedro-viz shows the first mosaic
    with pytest.raises(DatasetError, match="must not exist"):
        MlflowImageFolderDataset(**spec, version=Version(None, V2)).save({"m1/x": stray})


RUN = """
import json, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
root = Path(sys.argv[1])
bootstrap_project(root)
with KedroSession.create(project_path=root, env="test") as session:
    session.run(pipeline_names=["fit"])
print("RESULT" + json.dumps({"ok": 1}))
"""


@pytest.mark.slow
def test_a_run_logs_the_generation_and_similarity_grids(tmp_path):
    """`kedro run --env test --pipelines fit` in a project copy: its MLflow run (the test env's
    store, data/mlruns_test) holds every grid the run saved, byte for byte."""
    from mlflow.tracking import MlflowClient

    copy_project(tmp_path)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "IMITATION_KEDRO_PROGRESS": "0",
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    proc = run_script(tmp_path, RUN, env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads(proc.stdout.split("RESULT", 1)[1])["ok"] == 1
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'data/mlruns_test/mlflow.db'}")
    experiment = client.get_experiment_by_name("imitation_kedro_test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    store = Path(urlparse(run.info.artifact_uri).path)
    reports = tmp_path / "data/08_reporting"
    (grid,) = (reports / "generation_grid.png").glob("*/generation_grid.png")
    mosaics = sorted((reports / "generation_grids").glob("*/generation_grids/*/*.png"))
    figures = sorted((reports / "similarity_grids").glob("*/similarity_grids/*.png"))
    assert mosaics and figures
    expected = {"generation/generation_grid.png"}
    expected |= {f"generation/{p.parent.name}/{p.name}" for p in mosaics}
    expected |= {f"similarity/{p.name}" for p in figures}
    logged = {p for top in ("generation", "similarity") for p in _logged(run.info.run_id, top, client)}
    assert logged == expected
    assert (store / "generation/generation_grid.png").read_bytes() == grid.read_bytes()
    assert (store / f"similarity/{figures[0].name}").read_bytes() == figures[0].read_bytes()
