"""Project-level behaviour in subprocesses (Kedro settings are process-global)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600
    )


def test_loading_pipelines_and_catalog_does_not_import_torch(project_root):
    """What `kedro viz` and `kedro run --pipelines threshold` pay at start-up: no torch."""
    code = """
import sys
from pathlib import Path
from kedro.framework.startup import bootstrap_project
from kedro.framework.session import KedroSession
from kedro.framework.project import pipelines
bootstrap_project(Path.cwd())
with KedroSession.create(project_path=Path.cwd(), env="test") as session:
    catalog = session.load_context().catalog
    names = sorted(pipelines)
heavy = sorted(m for m in ("torch", "diffusers", "open_clip", "transformers") if m in sys.modules)
# pyspark: mlflow (kedro-mlflow's hook) imports it when installed; what would cost is a started JVM
spark = sys.modules.get("pyspark")
if spark is not None and spark.SparkContext._active_spark_context is not None:
    heavy.append("spark")
print("HEAVY=" + ",".join(heavy))
print("PIPELINES=" + ",".join(names))
"""
    out = _python(code, project_root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HEAVY=\n" in out.stdout, out.stdout
    for name in ("world", "frequency", "generation", "similarity", "threshold", "backdoor"):
        assert name in out.stdout


def test_unknown_env_names_the_env(project_root):
    out = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env", "nope", "--pipelines", "threshold"],
        cwd=project_root, env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0
    assert "unknown configuration environment 'nope'" in out.stdout + out.stderr


def test_mistyped_runtime_param_names_the_key(project_root):
    out = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env", "test", "--pipelines", "threshold",
         "--params", "threshold.no_such_key=1"],
        cwd=project_root, env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0
    assert "no_such_key" in out.stdout + out.stderr


@pytest.mark.slow
def test_viz_build_lists_every_pipeline_with_layers_and_namespaces(project_root, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=project_root, env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    api = project_root / "build" / "api"
    main = json.loads((api / "main").read_text())
    ids = {p["id"] for p in main["pipelines"]}
    assert {"__default__", "fit", "world", "frequency", "generation", "similarity", "threshold",
            "threshold_user_table", "backdoor"} <= ids
    names = {n["name"] for n in main["nodes"]}
    assert any("concept frequencies" in n.lower() or "concept_frequencies" in n for n in names)
    # One collapsible group per paper, then per step (node names carry them: fit.threshold.<node>).
    assert {"world", "fit", "fit.frequency", "fit.generation", "fit.similarity",
            "fit.threshold"} <= set(main["modular_pipelines"])
    backdoor = json.loads((api / "pipelines" / "backdoor").read_text())
    assert "backdoor" in backdoor["modular_pipelines"]
    # Layers follow the data in every pipeline's view (a cycle among layers empties the list).
    for pipeline_id in ids:
        view = json.loads((api / "pipelines" / pipeline_id).read_text())
        assert {"raw", "intermediate", "primary", "reporting"} <= set(view["layers"]), pipeline_id
