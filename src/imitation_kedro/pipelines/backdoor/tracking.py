"""Optional MLflow tracking of per-epoch metrics (``backdoor.mlflow_experiment``) and torch threads."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any


def set_threads(num_threads: int) -> None:
    """torch CPU threads (0 = leave torch's default)."""
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)


def mlflow_run(experiment: str | None, name: str) -> Any:
    """A context with the MLflow run of ``name`` (``None`` inside when tracking is off)."""
    if not experiment:
        return nullcontext(None)
    try:
        import mlflow
    except ImportError as exc:  # optional extra
        raise ImportError("backdoor.mlflow_experiment is set but mlflow is not installed") from exc
    mlflow.set_experiment(experiment)
    return mlflow.start_run(run_name=name)


def log_metrics(run: Any, row: dict[str, Any]) -> None:
    """The split metrics of one evaluated epoch, when a run is open."""
    if run is None:
        return
    import mlflow

    mlflow.log_metrics(
        {k: float(v) for k, v in row.items() if k.startswith(("selection_", "test_"))},
        step=int(row["epoch"]),
    )
