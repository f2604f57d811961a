"""Project CLI (Kedro loads ``<package>.cli`` and lets its commands override the built-in ones).

``kedro run`` is Kedro's own command with one check in front and one behind: a pipeline name that
is not registered stops the run with Kedro's "did you mean" suggestion in a few lines, and an error
during the run ends in a short message, cause first, naming the failed node, instead of a
150-line traceback. ``kedro run --verbose`` (or ``IMITATION_KEDRO_VERBOSE=1``) keeps the full
traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.utils import get_close_matches


@click.group(name="imitation_kedro")
def cli() -> None:
    """Project commands."""


def check_pipeline_names(names: list[str], registered: list[str]) -> None:
    """Raise a short CLI error naming each unknown pipeline and Kedro's closest matches.

    A plain ``click.ClickException``: Kedro's ``KedroCliError`` prints ``NoneType: None`` under
    click 8.5, which reports the error after leaving the ``except`` block.
    """
    for name in names:
        if name in registered:
            continue
        matches = get_close_matches(name, registered)
        hint = f" Did you mean one of these instead?\n    {', '.join(matches)}" if matches else ""
        raise click.ClickException(
            f"Failed to find the pipeline named '{name}' (`kedro registry list` lists them).{hint}"
        )


VERBOSE_ENV = "IMITATION_KEDRO_VERBOSE"
MAX_MESSAGE_LINES = 10  # of the error's own text; the whole message stays under ~15 lines
HINT = (
    "Full traceback: add --verbose (or set IMITATION_KEDRO_VERBOSE=1). "
    "Common errors and their fixes: docs/troubleshooting.md"
)


def short_error(exc: BaseException, node: str | None = None) -> str:
    """The cause first (exception type and the first lines of its message), the failed node,
    then where to get more: at most ``MAX_MESSAGE_LINES`` + 3 lines."""
    lines = [line.rstrip() for line in str(exc).strip().splitlines() if line.strip()] or ["-"]
    if len(lines) > MAX_MESSAGE_LINES:
        lines = [
            *lines[: MAX_MESSAGE_LINES - 1],
            f"... ({len(lines) - MAX_MESSAGE_LINES + 1} more lines)",
        ]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in str(exc):
        lines.append(f"caused by {type(cause).__name__}: {str(cause).strip().splitlines()[0]}")
    out = [f"{type(exc).__name__}: {lines[0]}", *(f"  {line}" for line in lines[1:])]
    if node:
        out.append(f"(in node `{node}`)")
    out.append(HINT)
    return "\n".join(out)


def verbose_requested(flag: bool) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "").strip().lower() in {"1", "true", "yes"}


def _run(verbose: bool = False, **kwargs: Any) -> Any:
    from kedro.framework.project import pipelines

    from imitation_kedro.hooks import last_failed_node

    requested = kwargs["pipelines"] or ([kwargs["pipeline"]] if kwargs["pipeline"] else [])
    if requested:
        check_pipeline_names(list(requested), sorted(pipelines))
    try:
        return kedro_run.callback(**kwargs)
    except (click.ClickException, click.exceptions.Exit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if verbose_requested(verbose):
            raise
        raise click.ClickException(short_error(exc, last_failed_node())) from None


VERBOSE_OPTION = click.Option(
    ["--verbose", "-v"],
    is_flag=True,
    default=False,
    help=f"Show the full traceback of an error (same as {VERBOSE_ENV}=1).",
)

# `run` at module level too: `python -m imitation_kedro` (and torchrun) look it up by name.
run = click.Command(
    name="run",
    callback=_run,
    params=[*kedro_run.params, VERBOSE_OPTION],
    help=kedro_run.help,
    context_settings=kedro_run.context_settings,
)
cli.add_command(run)
