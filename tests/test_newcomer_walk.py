"""The README and quickstart commands, in the order a newcomer types them, on a fresh data folder.

Each command either succeeds or stops with one screen: an ``Error:`` block of at most 15 lines,
cause first, and no traceback. Runs in a throwaway copy of the project (``conf/``, ``examples/``,
empty ``data/``) with ``--env test`` where the README command runs the base world (the same
pipelines at the test sizes; the base world takes minutes more on a 2-core machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.project import copy_project

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "KEDRO_DISABLE_TELEMETRY": "1",
    "IMITATION_KEDRO_PROGRESS": "0",
    "MPLBACKEND": "agg",
    "COLUMNS": "200",  # one log record per line, as in a normal terminal
}
ENV.pop("IMITATION_KEDRO_VERBOSE", None)
KEDRO = str(Path(sys.executable).with_name("kedro"))


def kedro(project: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEDRO, *args], cwd=project, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def one_screen(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """The run failed with a short ``Error:`` block that contains every ``expected`` text."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Traceback" not in out, out[-5000:]
    block = out[out.rindex("Error: ") :].strip().splitlines()
    assert len(block) <= 15, "\n".join(block)
    for text in expected:
        assert text in "\n".join(block), ("\n".join(block), text)
    return "\n".join(block)


def succeeded(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "Traceback" not in out
    for warning in ("DeprecationWarning", "FutureWarning", "is deprecated", "kept in float32"):
        assert warning not in out, (warning, out[-3000:])
    return out


@pytest.fixture
def fresh(tmp_path) -> Path:
    project = copy_project(tmp_path / "project")
    shutil.rmtree(project / "conf" / "local")  # a developer's overrides must not leak in
    (project / "conf" / "local").mkdir()
    return project


@pytest.mark.slow
def test_mistakes_and_first_commands_on_a_fresh_clone(fresh):
    """The everyday commands before anything was built, and the usual typos."""
    one_screen(
        kedro(fresh, "run", "--pipelines", "threshold", "--env", "test"),
        "this run needs datasets that do not exist yet",
        "`kedro run --pipelines frequency` writes it",
    )
    backdoor = kedro(fresh, "run", "--pipelines", "backdoor", "--env", "test")
    if backdoor.returncode:  # names what to run first, unless backdoor builds its own world
        one_screen(backdoor, "kedro run --pipelines world")
    else:
        succeeded(backdoor)
    one_screen(kedro(fresh, "run", "--pipelines", "threshhold"), "Did you mean", "threshold")
    one_screen(kedro(fresh, "run", "--env", "nope"), "no folder conf/nope")
    one_screen(
        kedro(fresh, "run", "--pipelines", "threshold_user_table", "--params", "threshold.foo=1"),
        "threshold: unknown key(s) ['foo']",
    )
    bad = fresh / "examples" / "bad_scores.csv"
    bad.write_text("concept,count\na,1\nb,2\n")
    (fresh / "conf/local/catalog.yml").write_text(
        f"raw_user_scores:\n  type: pandas.CSVDataset\n  filepath: {bad}\n"
    )
    block = one_screen(
        kedro(fresh, "run", "--pipelines", "threshold_user_table"),
        "missing column(s) ['score']",
        "prepare_user_table_inputs",
        "--verbose",
    )
    assert block.splitlines()[0].startswith("Error: ") and "raw_user_scores" in block.splitlines()[0]
    verbose = kedro(fresh, "run", "--pipelines", "threshold_user_table", "--verbose")
    assert "Traceback" in verbose.stdout + verbose.stderr  # the full story stays available


@pytest.mark.slow
def test_readme_sequence_then_the_notebook(fresh):
    """`make run` (here `kedro run --env test`), the everyday commands, then the notebook."""
    from tests.test_notebook import _execute, _outputs_text

    out = succeeded(kedro(fresh, "run", "--env", "test", timeout=1800))
    assert "Reports and figures of this run:" in out and "threshold_report.html" in out
    succeeded(kedro(fresh, "run", "--pipelines", "threshold", "--env", "test"))
    # The newest report: plain text, and (the world's report exists now) compared with its truth.
    reports = sorted((fresh / "data/08_reporting/threshold_report.md").glob("*/threshold_report.md"))
    text = reports[-1].read_text()
    assert "base64" not in text and "## Compared with the miniature world's known truth" in text
    succeeded(kedro(fresh, "run", "--pipelines", "threshold_user_table", "--env", "test"))
    nb = _execute(fresh)
    assert "source: user_table" in _outputs_text(nb)
