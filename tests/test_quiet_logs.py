"""Third-party notices no user can act on stay out of the run log; every other warning stays."""

from __future__ import annotations

import logging

import pytest

import imitation_kedro  # noqa: F401  (attaches the filters)


@pytest.mark.parametrize(
    ("logger", "message", "shown"),
    [
        (
            "py.warnings",
            "x.py:1: UserWarning: \x1b[33mAdd type hints to the `predict` method",
            False,
        ),
        (
            "py.warnings",
            "omegaconf.py:637: UserWarning: register_new_resolver() is deprecated",
            False,
        ),
        (
            "diffusers.models.modeling_utils",
            "modules in X that should be kept in float32: [].",
            False,
        ),
        (
            "diffusers.models.modeling_utils",
            "modules in X that should be kept in float32: ['n'].",
            True,
        ),
        (
            "py.warnings",
            "x.py:33: FutureWarning: PySpark does not yet fully support pandas >= 3.0.0.",
            False,
        ),
        ("py.warnings", "x.py:1: UserWarning: something the user should see", True),
    ],
)
def test_only_known_notices_are_dropped(logger, message, shown):
    record = logging.LogRecord(logger, logging.WARNING, __file__, 1, message, None, None)
    assert bool(logging.getLogger(logger).filter(record)) is shown


def test_a_run_error_is_one_screen_cause_first():
    from imitation_kedro.cli import short_error

    exc = ValueError(
        "raw_user_scores: missing column(s) ['score']\n" + "\n".join(f"line {i}" for i in range(40))
    )
    text = short_error(exc, "fit.threshold.prepare_user_table_inputs")
    lines = text.splitlines()
    assert lines[0] == "ValueError: raw_user_scores: missing column(s) ['score']"
    assert len(lines) <= 15 and "... (32 more lines)" in text
    assert "(in node `fit.threshold.prepare_user_table_inputs`)" in text
    assert lines[-1].startswith("Full traceback: add --verbose (or set IMITATION_KEDRO_VERBOSE=1)")


def test_run_errors_are_short_unless_verbose(monkeypatch):
    import click
    from click.testing import CliRunner

    from imitation_kedro import cli

    def boom(**_kwargs):
        raise KeyError("prm_concept_frequencies")

    monkeypatch.setattr(cli.kedro_run, "callback", boom)
    monkeypatch.setattr(cli, "check_pipeline_names", lambda *a: None)
    monkeypatch.setattr("imitation_kedro.core.threads.configure_threads", lambda: 1)
    monkeypatch.delenv(cli.VERBOSE_ENV, raising=False)
    result = CliRunner().invoke(cli.cli, ["run"])
    assert result.exit_code == 1 and "Error: KeyError: 'prm_concept_frequencies'" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 15
    verbose = CliRunner().invoke(cli.cli, ["run", "--verbose"])
    assert isinstance(verbose.exception, KeyError)  # the original exception, traceback intact
    monkeypatch.setenv(cli.VERBOSE_ENV, "1")
    assert isinstance(CliRunner().invoke(cli.cli, ["run"]).exception, KeyError)
    assert not isinstance(verbose.exception, click.ClickException)
