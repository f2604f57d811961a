"""Per-epoch metrics into kedro-mlflow's run, and torch threads.

kedro-mlflow opens one MLflow run per ``kedro run`` (conf/*/mlflow.yml names the store and the
experiment); every training run of a node logs its epochs there under its own key prefix. Outside
a Kedro run (a node called directly, a test) there is no active run and nothing is logged.
"""

from __future__ import annotations

import sys
from typing import Any

METRIC_PREFIXES = ("selection_", "test_")


def set_threads(num_threads: int) -> None:
    """torch CPU threads (0 = leave torch's default)."""
    import torch

    if num_threads:
        torch.set_num_threads(num_threads)


def epoch_metrics(run_name: str, row: dict[str, Any]) -> dict[str, float]:
    """The split metrics of one evaluated epoch, keyed ``<run_name>/<metric>``."""
    return {f"{run_name}/{k}": float(v) for k, v in row.items() if k.startswith(METRIC_PREFIXES)}


def log_epoch(run_name: str, row: dict[str, Any]) -> None:
    """Log one evaluated epoch (step = epoch) into the active MLflow run, if there is one."""
    from .distributed import is_writer

    mlflow = sys.modules.get("mlflow")  # never imported: no run can be active
    if not is_writer():  # data-parallel: rank 0 logs
        return
    if mlflow is None or mlflow.active_run() is None:
        return
    mlflow.log_metrics(epoch_metrics(run_name, row), step=int(row["epoch"]))
