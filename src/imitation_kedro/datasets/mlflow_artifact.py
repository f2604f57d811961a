"""kedro-mlflow's ``MlflowArtifactDataset`` for versioned catalog entries.

kedro-mlflow 2.0.3 builds the wrapped dataset itself, so a wrapped ``versioned: true`` dataset gets
a timestamp of its own instead of the run's save version, and Kedro 1.7 then refuses the catalog
(``VersionAlreadyExistsError``: one save version per catalog). This factory takes the version Kedro
passes for ``versioned: true`` on the entry and hands it to kedro-mlflow's wrapper, so the file
lands in the run's version folder and is logged as an artefact of the active MLflow run.
mlflow is imported only when an entry is built.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import Version


class VersionedMlflowArtifactDataset(AbstractDataset):
    """``kedro_mlflow.io.artifacts.MlflowArtifactDataset`` over ``dataset``, saved under Kedro's
    version of the run (set ``versioned: true`` on the entry, not on ``dataset``).

    Example::

        rpt_report:
          type: imitation_kedro.datasets.mlflow_artifact.VersionedMlflowArtifactDataset
          versioned: true
          artifact_path: reports
          dataset: {type: text.TextDataset, filepath: data/08_reporting/report.md}
    """

    def __new__(  # noqa: PLR0913
        cls,
        dataset: str | dict[str, Any],
        run_id: str | None = None,
        artifact_path: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        version: Version | None = None,
    ) -> Any:
        from kedro_mlflow.io.artifacts import MlflowArtifactDataset

        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        if config.get("versioned"):
            raise ValueError(
                "VersionedMlflowArtifactDataset: put `versioned: true` on the catalog entry, "
                "not inside `dataset:` (there it would get a save version of its own)"
            )
        config["versioned"] = version is not None
        wrapped = MlflowArtifactDataset(
            config,
            run_id=run_id,
            artifact_path=artifact_path,
            credentials=credentials,
            metadata=metadata,
        )
        if version is not None:
            wrapped._version = version  # the run's save version, not kedro-mlflow's timestamp
        return wrapped

    def _load(self) -> Any:  # pragma: no cover - __new__ returns kedro-mlflow's dataset
        raise NotImplementedError

    def _save(self, data: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _describe(self) -> dict[str, Any]:  # pragma: no cover
        return {}
