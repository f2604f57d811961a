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
heavy = sorted(m for m in ("torch", "diffusers", "open_clip", "transformers", "pyspark") if m in sys.modules)
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
def test_viz_build_lists_every_pipeline_with_layers(project_root, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=project_root, env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    main = json.loads((project_root / "build" / "api" / "main").read_text())
    ids = {p["id"] for p in main["pipelines"]}
    assert {"__default__", "world", "frequency", "generation", "similarity", "threshold", "backdoor"} <= ids
    assert {"raw", "primary", "reporting"} <= set(main["layers"])
    names = {n["name"] for n in main["nodes"]}
    assert any("concept frequencies" in n.lower() or "concept_frequencies" in n for n in names)
