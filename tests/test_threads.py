"""CPU threads: one count per machine (never per load, so a busy machine gives the same bytes),
set once per process, with sleeping waits."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from imitation_kedro.core.threads import THREADS_ENV, available_cores, choose_threads

BUSY_LOOP = "while True:\n    pass\n"
PROBE = (
    "from imitation_kedro.core.threads import configure_threads\n"
    "n = configure_threads()\n"
    "import os, torch\n"
    "print(n, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])\n"
)


@pytest.mark.parametrize(
    ("cores", "override", "expected"), [(2, None, 2), (8, None, 8), (2, "", 2), (2, "3", 3)]
)
def test_the_count_is_the_cores_or_the_override(cores, override, expected):
    assert choose_threads(cores, override) == expected


@pytest.mark.parametrize("bad", ["two", "0", "-1"])
def test_the_override_must_be_a_count(bad):
    with pytest.raises(ValueError, match=THREADS_ENV):
        choose_threads(2, bad)


def _probe() -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    env.pop(THREADS_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_a_competing_job_does_not_change_the_count():
    """Float reductions round differently with another thread count: the count chosen while a
    CPU-bound job runs must be the quiet one (the load-sampling version chose fewer)."""
    quiet = _probe()
    competitors = [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(available_cores())
    ]
    try:
        time.sleep(1.0)
        busy = _probe()
    finally:
        for proc in competitors:
            proc.kill()
            proc.wait()
    cores = str(available_cores())
    assert quiet == busy == [cores, cores, "PASSIVE"]


def test_kedro_run_sets_threads_once(monkeypatch, project_root):
    """One place sets the threads: the hook, when the context is created (not the CLI too)."""
    from click.testing import CliRunner
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from imitation_kedro import cli
    from imitation_kedro.core import config_loader

    monkeypatch.setattr(config_loader, "_SESSION_ENV", [None])  # the session below records "test"
    calls: list[int] = []
    monkeypatch.setattr("imitation_kedro.core.threads.configure_threads", lambda: calls.append(1))
    monkeypatch.setattr(cli, "check_pipeline_names", lambda *a: None)
    bootstrap_project(project_root)

    def load_context(**_kwargs):
        with KedroSession.create(project_path=project_root, env="test") as session:
            session.load_context()

    monkeypatch.setattr(cli.kedro_run, "callback", load_context)
    result = CliRunner().invoke(cli.cli, ["run"])
    assert result.exit_code == 0, result.output
    assert calls == [1]
