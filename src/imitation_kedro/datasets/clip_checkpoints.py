"""Kedro datasets for CLIP checkpoints (thin over :mod:`imitation_kedro.models.clip_checkpoints`).

- :class:`ClipCheckpointsDataset`: a versioned folder of named safetensors checkpoints,
  ``{name: {"state_dict", "meta"}}`` (the backdoor pipeline's pre-trained models).
- :class:`EpochCheckpointsDataset`: per-epoch resume checkpoints. ``load`` returns the
  :class:`~imitation_kedro.models.clip_checkpoints.EpochCheckpoints` store a training node saves
  each epoch into and resumes from; without a ``path`` the store is off (nothing written).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, AbstractVersionedDataset
from kedro.io.core import DatasetError, Version

from imitation_kedro.models.clip_checkpoints import EpochCheckpoints, load_named, save_named

__all__ = ["ClipCheckpointsDataset", "EpochCheckpointsDataset"]


class ClipCheckpointsDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """Save/load a mapping of named CLIP checkpoints as safetensors files in one folder."""

    def __init__(
        self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return load_named(Path(str(self._get_load_path())))

    def save(self, data: dict[str, Any]) -> None:
        save_named(Path(str(self._get_save_path())), data)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except Exception:  # noqa: BLE001 - no version saved yet
            return False
        return Path(str(path)).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


class EpochCheckpointsDataset(AbstractDataset[None, EpochCheckpoints]):
    """The per-epoch resume store of a training node, rooted at ``path`` (``None``: off).

    Example (conf/paper)::

        int_backdoor_pretrain_epochs:
          type: imitation_kedro.datasets.clip_checkpoints.EpochCheckpointsDataset
          path: data/06_models/backdoor/pretrain_epochs

    The node receives the store and writes through it (one sub-folder per run); a re-run with
    the same path resumes each run after its last complete epoch.
    """

    def __init__(self, path: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._path = path
        self.metadata = metadata

    def load(self) -> EpochCheckpoints:
        return EpochCheckpoints(self._path)

    def save(self, data: None) -> None:
        raise DatasetError(
            "EpochCheckpointsDataset is written through the store its load returns, not saved"
        )

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
