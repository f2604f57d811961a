"""Project hooks: validate every parameter block at start-up, summarise what a run produced."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

from imitation_kedro.core.params import ParameterError
from imitation_kedro.pipeline_registry import PAPER_ENVS, current_env, validate_parameters

logger = logging.getLogger(__name__)


class InvalidParametersError(ParameterError, click.ClickException):
    """Bad parameters at start-up: a :class:`ParameterError` that ``kedro run`` prints as a short
    ``Error: ...`` (a click exception) instead of a traceback."""

    def __init__(self, message: str) -> None:
        click.ClickException.__init__(self, message)


class ParameterValidationHook:
    """Fail before any node runs when a parameter file holds an unknown or mistyped key.

    Validates the raw configuration (``--params`` overrides included) with the project's models
    before Kedro's own typed-parameter validation runs, so the message names each bad key by its
    dotted path and lists the keys its block accepts.
    """

    @hook_impl(tryfirst=True)  # before plugins' hooks (kedro-mlflow opens its store here)
    def after_context_created(self, context: Any) -> None:
        conf_root = Path(context.project_path) / "conf"
        if context.env and not (conf_root / context.env).is_dir():
            envs = sorted(p.name for p in conf_root.iterdir() if p.is_dir())
            raise click.ClickException(
                f"unknown configuration environment {context.env!r}: no folder conf/{context.env}. "
                f"Choose one of {envs} (e.g. --env paper)."
            )
        # Not context.params: reading it runs Kedro's validator first, with its longer message.
        raw = context.config_loader["parameters"]
        try:
            validate_parameters(raw)
        except ParameterError as exc:
            env = context.env or getattr(context.config_loader, "default_run_env", None)
            problems = "\n".join(f"  {line}" for line in str(exc).splitlines())
            raise InvalidParametersError(
                f"invalid parameters (env {env!r}):\n{problems}\n"
                "Fix conf/<env>/parameters_<pipeline>.yml or the --params override."
            ) from None


class ThreadsHook:
    """Set torch's and the BLAS libraries' CPU threads (``core/threads.py``) once per process,
    before any node imports torch: for ``kedro run`` and sessions run from Python alike."""

    @hook_impl(tryfirst=True)
    def after_context_created(self) -> None:
        from imitation_kedro.core.threads import configure_threads

        configure_threads()


class MissingInputsError(click.ClickException):
    """A run needs datasets that no earlier run has written: names each and what writes it."""


# Composites repeat their parts' outputs: name the part a user can run on its own.
_COMPOSITES = {"__default__", "fit"}


def _location(catalog: Any, name: str) -> str | None:
    """Where a file-backed dataset lives (its ``path`` or ``filepath``), else None."""
    try:
        described = catalog.get(name)._describe()
    except Exception:  # a dataset that cannot describe itself has no comparable location
        return None
    where = described.get("path") or described.get("filepath")
    return str(Path(str(where)).resolve()) if where else None


def missing_inputs(pipeline: Any, catalog: Any, registered: dict[str, Any]) -> list[str]:
    """One line per free input of ``pipeline`` that another pipeline writes and is not there yet.

    A writer is found by dataset name, or by location when two entries read the same folder
    (the backdoor's ``raw_backdoor_pairs`` is the world's ``raw_laion_images``). Inputs no
    registered pipeline writes (a user's table, an optional cache) are left to their dataset:
    some load as empty by design.
    """
    writers: dict[str, set[str]] = {}
    for name, other in registered.items():
        if name in _COMPOSITES or (name == "world" and current_env() in PAPER_ENVS):
            continue  # the paper envs never run world: their raw data is the user's
        for output in other.all_outputs():
            writers.setdefault(output, set()).add(name)
    by_location: dict[str, set[str]] = {}
    for output, names in writers.items():
        if (where := _location(catalog, output)) is not None:
            by_location.setdefault(where, set()).update(names)
    written_here = {_location(catalog, output) for output in pipeline.all_outputs()} - {None}
    lines = []
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters":
            continue
        where = _location(catalog, name)
        if where in written_here:  # another name for a folder this run writes before reading it
            continue
        found = writers.get(name) or by_location.get(where or "", set())
        if found and not catalog.exists(name):
            runs = " or ".join(f"`kedro run --pipelines {w}`" for w in sorted(found))
            shown = os.path.relpath(where) if where else "in memory"
            lines.append(f"  {name} ({shown}): not written yet; {runs} writes it")
    return lines


class MissingInputsHook:
    """Stop a run before its first node when an input another pipeline writes does not exist
    yet, naming the pipeline to run first (instead of a loader traceback mid-run)."""

    @hook_impl
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        from kedro.framework.project import pipelines

        lines = missing_inputs(pipeline, catalog, dict(pipelines))
        if lines:
            if any(line.lstrip().startswith(_FIT_TABLES) for line in lines):
                lines.append(
                    "  or find thresholds of your own table: `kedro run --pipelines "
                    "threshold_user_table` (README, 'Your own table')"
                )
            raise MissingInputsError(
                "this run needs datasets that do not exist yet:\n"
                + "\n".join(lines)
                + "\n(`kedro run` runs the whole FIT chain; the README lists the pipelines; "
                "docs/troubleshooting.md)"
            )


_FIT_TABLES = ("prm_concept_frequencies ", "prm_imitation_scores ")


_FAILED_NODE: list[str] = []  # the node whose error ended the last run (for the CLI message)


def last_failed_node() -> str | None:
    """Name of the node that failed in this process's last run, if one did."""
    return _FAILED_NODE[-1] if _FAILED_NODE else None


class RunSummaryHook:
    """Log one short table of the datasets a run saved to disk (name, size, version), then
    where its reports and figures are: the last lines a user sees."""

    def __init__(self) -> None:
        self._saved: dict[str, dict[str, Any]] = {}
        self._start = 0.0
        self._catalog: Any = None

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        _FAILED_NODE.clear()
        self._saved = {}
        self._start = time.perf_counter()
        self._catalog = catalog

    @hook_impl
    def on_node_error(self, node: Any) -> None:
        _FAILED_NODE.append(node.name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        self._saved[dataset_name] = {"rows": _size_of(data)}

    @hook_impl
    def after_pipeline_run(self) -> None:
        on_disk = {n: info for n, info in self._saved.items() if _location(self._catalog, n)}
        if not on_disk:
            return
        elapsed = time.perf_counter() - self._start
        rows, reports = [], []
        for name, info in sorted(on_disk.items()):
            version = _version_of(self._catalog, name)
            rows.append(f"  {name}: {info['rows']}" + (f" @ {version}" if version != "-" else ""))
            if name.startswith("rpt_"):
                reports.append(f"  {_saved_path(self._catalog, name, version)}")
        logger.info(
            "Run summary: %d datasets saved in %.1f s (versioned ones marked @ version)\n%s",
            len(rows),
            elapsed,
            "\n".join(rows),
        )
        if reports:
            logger.info("Reports and figures of this run:\n%s", "\n".join(reports))


def _saved_path(catalog: Any, name: str, version: str) -> str:
    """The file a dataset saved, relative to the working folder (Kedro's versioned layout:
    ``<filepath>/<version>/<file name>``)."""
    where = Path(_location(catalog, name) or name)
    if version != "-":
        where = where / version / where.name
    return os.path.relpath(where)


def _size_of(data: Any) -> str:
    if hasattr(data, "shape") and getattr(data, "shape", None) is not None:
        shape = data.shape
        return f"{shape[0]} rows" if len(shape) else "scalar"
    if isinstance(data, dict):
        return f"{len(data)} items"
    if isinstance(data, (list, tuple)):
        return f"{len(data)} items"
    return type(data).__name__


def _version_of(catalog: Any, name: str) -> str:
    try:
        dataset = catalog.get(name)
        version = getattr(dataset, "_version", None)
        save = getattr(version, "save", None) if version else None
        return save or "-"
    except Exception:  # noqa: BLE001 - the summary must never fail a run
        return "-"


class SparkHook:
    """Start a SparkSession from ``conf/<env>/spark.yml`` when the env has one (``--env spark``)."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        try:
            spark_conf = context.config_loader["spark"]
        except Exception:  # noqa: BLE001 - MissingConfigException: this env has no Spark
            return
        if not spark_conf:
            return
        import os
        import sys

        from pyspark import SparkConf
        from pyspark.sql import SparkSession

        # Executors must import imitation_kedro: run them on this interpreter (install the
        # package wheel on the executors of a real cluster).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = {"spark.pyspark.python": sys.executable, **spark_conf}
        conf = SparkConf().setAll([(str(k), str(v)) for k, v in settings.items()])
        session = SparkSession.builder.config(conf=conf).getOrCreate()
        session.sparkContext.setLogLevel("WARN")
        logger.info("SparkSession started: master %s", session.sparkContext.master)


class DistributedHook:
    """Initialise torch.distributed when launched by torchrun (``WORLD_SIZE`` > 1); only rank 0
    writes: every other rank keeps the run's outputs in memory (nodes still run on every rank,
    sharing the work through the process group)."""

    @hook_impl
    def before_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        import os

        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return
        self._init_process_group()
        rank = int(os.environ.get("RANK", "0"))
        if rank > 0:
            from kedro.io import MemoryDataset

            for name in sorted(pipeline.all_outputs()):
                catalog[name] = MemoryDataset(copy_mode="assign")
            n = len(pipeline.all_outputs())
            logger.info("rank %d: %d outputs kept in memory (rank 0 writes)", rank, n)

    @hook_impl
    def after_pipeline_run(self) -> None:
        import sys

        dist = getattr(sys.modules.get("torch"), "distributed", None)
        if dist is not None and dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    @staticmethod
    def _init_process_group() -> None:
        import os

        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend)
            logger.info("torch.distributed: rank %d of %d", dist.get_rank(), dist.get_world_size())
