"""The part every model dataset shares: a model saved as a directory at a local ``path``.

A subclass reads its model from that directory, or from a read-only source it names otherwise
(a hub id, an open_clip architecture); it saves only to ``path``, atomically and never over an
unrelated folder (:func:`imitation_kedro.models.hub.write_model_dir`), under
``path/<version>/<name>`` with ``versioned: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from imitation_kedro.models.hub import ModelSourceError, write_model_dir


class ModelDirDataset(AbstractVersionedDataset[Any, Any]):
    """Base of the model datasets: ``path``, ``overwrite``, versioning and the atomic save."""

    MARKER: ClassVar[str] = ""
    """A file every complete saved model directory holds (e.g. ``model_index.json``)."""
    WHAT: ClassVar[str] = "model"
    """What the directory holds, for error messages."""

    def _init_dir(
        self,
        path: str | None,
        overwrite: bool,
        version: Version | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        """Set ``path``, ``overwrite`` and ``metadata``; ``path=None`` means read-only elsewhere."""
        self._path = path
        self._overwrite = bool(overwrite)
        self.metadata = metadata
        filepath = PurePosixPath(Path(path).as_posix()) if path is not None else PurePosixPath(".")
        super().__init__(filepath=filepath, version=version)

    def _describe_dir(self, **fields: Any) -> dict[str, Any]:
        """``_describe``: ``path``, the subclass's ``fields``, ``overwrite`` and ``version``."""
        return {"path": self._path, **fields, "overwrite": self._overwrite, "version": self._version}

    def _write_dir(self, write: Callable[[Path], Any]) -> None:
        """Save with ``write(tmp_dir)``, then move the finished directory into place."""
        target = Path(str(self._get_save_path()))
        try:
            write_model_dir(
                target, write, overwrite=self._overwrite, marker=self.MARKER, what=self.WHAT
            )
        except ModelSourceError as exc:
            raise DatasetError(str(exc)) from None
