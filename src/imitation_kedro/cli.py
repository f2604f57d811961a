"""Project CLI (Kedro loads ``<package>.cli`` and lets its commands override the built-in ones).

``kedro run`` is Kedro's own command with one check in front: a pipeline name that is not
registered stops the run with Kedro's "did you mean" suggestion in a few lines, instead of the
traceback Kedro prints when the session fails to find it.
"""

from __future__ import annotations

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


def _run(**kwargs: Any) -> Any:
    from kedro.framework.project import pipelines

    requested = kwargs["pipelines"] or ([kwargs["pipeline"]] if kwargs["pipeline"] else [])
    if requested:
        check_pipeline_names(list(requested), sorted(pipelines))
    return kedro_run.callback(**kwargs)


cli.add_command(
    click.Command(
        name="run",
        callback=_run,
        params=kedro_run.params,
        help=kedro_run.help,
        context_settings=kedro_run.context_settings,
    )
)
