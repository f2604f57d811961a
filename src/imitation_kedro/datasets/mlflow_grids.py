"""Image grids that are also artefacts of the active MLflow run (kedro-mlflow starts one per
``kedro run``; the store is set in conf/*/mlflow.yml).

``VersionedMlflowArtifactDataset`` (kedro-mlflow's wrapper) logs whatever path it saved, and fails
when nothing was written (an empty dict of figures) or when no run is active. The grids can be
empty (every concept skipped) and are saved outside Kedro sessions by tests and notebooks, so
these datasets log what the save wrote, only when a run is active:

- :class:`MlflowFiguresDataset`: one figure, or a dict of figures saved as a folder
  (``rpt_generation_grid``, ``rpt_similarity_grids``); versioned like ``MatplotlibDataset``.
- :class:`MlflowImageFolderDataset`: a versioned folder of image partitions
  (``rpt_generation_concept_grids``); only the partitions of this save are logged, each under
  ``artifact_path/<partition folder>``.

Example::

    rpt_similarity_grids:
      type: imitation_kedro.datasets.mlflow_grids.MlflowFiguresDataset
      filepath: data/08_reporting/similarity_grids
      versioned: true
      artifact_path: similarity
"""

from __future__ import annotations

import base64
import os
import posixpath
from typing import Any

from kedro_datasets._typing import ImagePreview

from imitation_kedro.datasets.previews import FigureFolderDataset
from imitation_kedro.datasets.versioned_partitions import VersionedPartitionedDataset


def log_to_active_run(local_path: str, artifact_path: str | None) -> bool:
    """Log a saved file (or a folder's files) to the active MLflow run; False when no run is
    active or nothing is there. mlflow is imported only when a save happens."""
    if not os.path.exists(local_path):
        return False
    import mlflow

    if mlflow.active_run() is None:
        return False
    if os.path.isdir(local_path):
        mlflow.log_artifacts(local_path, artifact_path)
    else:
        mlflow.log_artifact(local_path, artifact_path)
    return True


class MlflowFiguresDataset(FigureFolderDataset):
    """``FigureFolderDataset`` (matplotlib) whose saved file or folder is logged to the active
    run under ``artifact_path``."""

    def __init__(self, *, artifact_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._artifact_path = artifact_path

    def save(self, data: Any) -> None:
        super().save(data)
        version = self.resolve_save_version() if self._version else None
        saved = self._get_versioned_path(version) if version else self._filepath
        log_to_active_run(str(saved), self._artifact_path)


class MlflowImageFolderDataset(VersionedPartitionedDataset):
    """A versioned folder of image partitions (``dataset: pillow.ImageDataset``) whose saved
    partitions are logged to the active run; kedro-viz previews its first image."""

    def __init__(self, *, artifact_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._artifact_path = artifact_path

    def save(self, data: dict[str, Any]) -> None:
        super().save(data)
        folder = self._get_versioned_path(self.resolve_save_version())
        partitions = self._partitions(folder)
        for partition in sorted(data):
            sub = posixpath.dirname(partition)
            target = posixpath.join(self._artifact_path, sub) if self._artifact_path else sub
            log_to_active_run(partitions._partition_to_path(partition), target or None)

    def preview(self) -> ImagePreview:
        partitions = self._partitions(self._get_load_path())
        paths = sorted(partitions._list_partitions())
        if not paths:
            raise FileNotFoundError(f"{self._path}: no image saved yet")
        with partitions._filesystem.open(paths[0], mode="rb") as image:
            return ImagePreview(base64.b64encode(image.read()).decode("ascii"))
