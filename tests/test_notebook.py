"""notebooks/fit_thresholds.ipynb runs from top to bottom on real pipeline outputs (nbclient).

In a copy of the project (conf/, examples/, pyproject.toml, empty data/; the package itself is
imported from the installed venv) the threshold pipeline runs twice on the example user table,
the second time with another PELT penalty, so ``out_thresholds`` has two versions that differ in
a known way. The notebook then executes with the copy as its working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.project import copy_project

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "fit_thresholds.ipynb"
THRESHOLDS = Path("data/07_model_output/thresholds.parquet")
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "KEDRO_DISABLE_TELEMETRY": "1",
    "IMITATION_KEDRO_PROGRESS": "0",
    "OMP_NUM_THREADS": "1",
    "MPLBACKEND": "agg",
}
DATA_FOLDERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


def _kedro(project: Path, *params: str, pipeline: str = "threshold_user_table") -> None:
    kedro = Path(sys.executable).with_name("kedro")
    proc = subprocess.run(
        [str(kedro), "run", "--pipelines", pipeline, *params],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts.append(data.get("text/plain", ""))
            parts.append(data.get("text/html", ""))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_notebook_is_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and code[0].source.strip() == "%load_ext kedro.ipython"
    assert all(not c.outputs and c.execution_count is None for c in code)


def _fresh_project(tmp_path: Path) -> Path:
    project = copy_project(tmp_path / "project")
    shutil.rmtree(project / "conf" / "local")  # a developer's overrides must not leak in
    (project / "conf" / "local").mkdir()
    for folder in DATA_FOLDERS:
        (project / "data" / folder).mkdir(parents=True)
    return project


def _execute(project: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(project)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    return nb


@pytest.mark.slow
def test_notebook_after_the_readme_sequence(tmp_path):
    """README order: `kedro run --pipelines threshold` (the FIT chain's tables), then the user
    table, then the notebook. The rows differ between the two versions (the notebook once
    crashed on them: itertuples renames `_merge`), and SOURCE="auto" must plot the user table,
    the source of the latest thresholds, not the FIT chain's points."""
    from tests.pipelines.threshold.conftest import contract_tables

    project = _fresh_project(tmp_path)
    counts = [10 * i + 110 for i in range(40)]
    freq, scores = contract_tables(counts, [0.2] * 20 + [0.6] * 20, domain="style", models=("m1",))
    version = "2026-01-01T00.00.00.000Z"  # as the FIT chain would have saved them
    for frame, name in ((freq, "concept_frequencies"), (scores, "imitation_scores")):
        folder = project / "data/03_primary" / f"{name}.parquet" / version
        folder.mkdir(parents=True)
        frame.to_parquet(folder / f"{name}.parquet")
    _kedro(project, "--env", "test", pipeline="threshold")  # test sizes: fewer bootstrap draws
    time.sleep(1.1)
    _kedro(project, "--env", "test")
    nb = _execute(project)
    text = _outputs_text(nb)
    assert "source: user_table" in text
    assert "only in the old version: style / m1 / paper" in text
    assert "only in the new version: art / sd11 / paper" in text


@pytest.mark.slow
def test_notebook_runs_and_compares_two_threshold_versions(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    project = _fresh_project(tmp_path)

    _kedro(project)
    time.sleep(1.1)  # version = save timestamp (ms): make the two runs distinct and ordered
    _kedro(project, "--params", "threshold.paper.penalty=0.3")
    versions = sorted(p.name for p in (project / THRESHOLDS).iterdir())
    assert len(versions) == 2, versions
    old_version, new_version = versions

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=240,
        resources={"metadata": {"path": str(project)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell

    errors = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, errors
    text = _outputs_text(nb)
    assert f"comparing out_thresholds {old_version} (old) -> {new_version} (new)" in text
    assert "source: user_table" in text
    # The second run changed only the paper method's penalty: the notebook must find exactly that
    # (the penalty column and the parameters JSON), and that no threshold moved on this data.
    assert "parameters.paper.penalty" in text
    assert "'penalty'" in text
    assert "thresholds moved in 0 row(s)" in text
    # The score-vs-count figure was drawn.
    assert any(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )
