"""Test environment: offline, no telemetry, quiet progress bars, one torch thread."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("IMITATION_KEDRO_PROGRESS", "0")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = (
    ["tests.fixtures.world"] if (PROJECT_ROOT / "tests/fixtures/world.py").exists() else []
)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
