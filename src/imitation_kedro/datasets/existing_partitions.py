"""A read-only listing of the partitions a previous (possibly killed) run already wrote.

Resume needs the files already on disk as an ordinary catalog input: the ``generation``
pipeline plans from ``int_existing_generated_images`` while ``int_generated_images`` (the same
folder) is the generation node's output. Two catalog names on one folder keep the DAG acyclic;
this one loads ``{partition id: loader}`` (``{}`` when the folder is missing or empty, see
:class:`OptionalPartitionedDataset`) and refuses to save.
"""

from __future__ import annotations

from typing import Any

from kedro.io.core import DatasetError

from imitation_kedro.datasets.optional_partitioned import OptionalPartitionedDataset


class ExistingPartitionsDataset(OptionalPartitionedDataset):
    """``{partition id: loader}`` of what is on disk (``{}`` when nothing is); never saves."""

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(
            f"{type(self).__name__} at '{self._path}' is read-only: it lists what a previous run "
            "wrote; save through the dataset that owns the folder (e.g. int_generated_images)"
        )
