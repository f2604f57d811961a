"""A ``partitions.PartitionedDataset`` that Kedro versions: one folder of partitions per run.

``PartitionedDataset`` cannot be ``versioned: true``, so a partitioned output rewritten by every run
(``int_verified_images``) could not be traced from an older thresholds version. This dataset
saves the partitions under ``<path>/<version>/<folder name>/`` (the layout of every versioned
Kedro dataset, so ``ProvenanceHooks`` records it and ``make clean-versions`` prunes it), refuses
to write into a version folder that exists, and loads the latest version (or the pinned one,
``--load-versions``) as ``PartitionedDataset`` does: ``{partition id: load function}`` (``{}`` for
a version saved with no partitions).

Example::

    int_verified_images:
      type: imitation_kedro.datasets.versioned_partitions.VersionedPartitionedDataset
      path: data/02_intermediate/frequency/verified_images
      dataset: imitation_kedro.datasets.atomic.AtomicParquetDataset
      filename_suffix: .parquet
      versioned: true
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets.partitions import PartitionedDataset


class VersionedPartitionedDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """Partitions saved under ``path/<version>/<name>/``; ``versioned: true`` is required."""

    def __init__(  # noqa: PLR0913
        self,
        path: str,
        dataset: str | dict[str, Any],
        filename_suffix: str = "",
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if version is None:
            raise DatasetError(
                f"VersionedPartitionedDataset at {path}: set `versioned: true` on the catalog "
                "entry (or use partitions.PartitionedDataset for an unversioned folder)"
            )
        self._path = path
        self._dataset = dataset
        self._suffix = filename_suffix
        self._load_args = load_args or {}
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version)

    def _partitions(self, folder: PurePosixPath) -> PartitionedDataset:
        return PartitionedDataset(
            path=str(folder),
            dataset=self._dataset,
            filename_suffix=self._suffix,
            load_args=self._load_args,
        )

    def load(self) -> dict[str, Callable[[], Any]]:
        partitions = self._partitions(self._get_load_path())
        if not partitions._list_partitions():  # a version saved with no partitions
            return {}
        return partitions.load()

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(
                f"{self._path}: expected a dict of partitions ({{id: data or callable}}), got "
                f"{type(data).__name__}"
            )
        partitions = self._partitions(self._get_save_path())
        # the version folder exists even with no partitions: it is loadable and has a record
        partitions._filesystem.makedirs(partitions._normalized_path, exist_ok=True)
        partitions.save(data)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return self._exists_function(str(path))

    def _describe(self) -> dict[str, Any]:
        return {
            "path": self._path,
            "dataset": self._dataset,
            "filename_suffix": self._suffix,
            "version": self._version,
        }
