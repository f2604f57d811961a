"""Per-epoch metrics and run timings into kedro-mlflow's run, and torch threads.

Timings (throughput, wall time) go to the log and MLflow only, never into the handoff tables:
those stay byte-identical between two runs of the same configuration.

kedro-mlflow opens one MLflow run per ``kedro run`` (conf/*/mlflow.yml names the store and the
experiment); every training run of a node logs its epochs there under its own key prefix. Outside
a Kedro run (a node called directly, a test) there is no active run and nothing is logged.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

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
    mlflow = _active_mlflow()  # data-parallel: rank 0 logs
    if mlflow is not None:
        mlflow.log_metrics(epoch_metrics(run_name, row), step=int(row["epoch"]))


def _active_mlflow() -> Any:
    """The mlflow module when this process writes and a run is active, else None."""
    from .distributed import is_writer

    mlflow = sys.modules.get("mlflow")  # never imported: no run can be active
    if not is_writer() or mlflow is None or mlflow.active_run() is None:
        return None
    return mlflow


def log_timing(run_name: str, pairs_per_s: float, seconds: float) -> None:
    """Throughput and wall time of one training run: logged, and MLflow metrics
    ``<run_name>/pairs_per_s`` and ``<run_name>/seconds`` when a run is active."""
    logger.info("%s: %.0f pairs/s, %.1f s", run_name, pairs_per_s, seconds)
    mlflow = _active_mlflow()
    if mlflow is not None:
        mlflow.log_metrics(
            {f"{run_name}/pairs_per_s": float(pairs_per_s), f"{run_name}/seconds": float(seconds)}
        )
