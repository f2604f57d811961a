"""A content-keyed store of text-to-image pipelines (the counterfactual pipeline's retrains).

``load`` returns a :class:`T2IStore` rooted at ``path``: one diffusers pipeline directory per
content key (``path/<key>/``), saved atomically through :class:`DiffusersPipelineDataset`
(safetensors only). The key is a hash of everything that determines the model, so it plays
the role of the version: a finished key is never re-trained or overwritten, an interrupted run
resumes after its last finished model, and a changed input gets a new key.

Example::

    mdl_counterfactual_t2i:
      type: imitation_kedro.datasets.t2i_store.T2IStoreDataset
      path: data/06_models/counterfactual_t2i
      pipeline_class: MiniatureTextToImagePipeline
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import DatasetError

_KEY = re.compile(r"^[0-9a-z][0-9a-z_.-]{0,95}$")


class T2IStore:
    """Save and load pipelines by content key under ``root``."""

    def __init__(self, root: str, pipeline_class: str) -> None:
        self.root = Path(root)
        self.pipeline_class = pipeline_class

    def _dir(self, key: str) -> Path:
        if not _KEY.match(key):
            raise DatasetError(f"model key {key!r} is not a plain lower-case name (no separators)")
        return self.root / key

    def _dataset(self, key: str) -> Any:
        from imitation_kedro.datasets.diffusers_pipeline import DiffusersPipelineDataset

        return DiffusersPipelineDataset(path=str(self._dir(key)), pipeline_class=self.pipeline_class)

    def has(self, key: str) -> bool:
        """True when a complete model is saved under ``key``."""
        return (self._dir(key) / "model_index.json").is_file()

    def load(self, key: str) -> Any:
        if not self.has(key):
            raise DatasetError(f"no model saved under key {key!r} in {self.root}")
        return self._dataset(key).load()

    def save(self, key: str, pipe: Any) -> None:
        """Save ``pipe`` under ``key`` atomically; refuses to overwrite a finished model."""
        self._dataset(key).save(pipe)


class T2IStoreDataset(AbstractDataset[None, T2IStore]):
    """The store a node writes through (``load``); saving the dataset itself is refused."""

    def __init__(
        self, path: str, pipeline_class: str = "MiniatureTextToImagePipeline",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._path = path
        self._pipeline_class = pipeline_class
        self.metadata = metadata

    def load(self) -> T2IStore:
        return T2IStore(self._path, self._pipeline_class)

    def save(self, data: None) -> None:
        raise DatasetError("T2IStoreDataset is written through the store its load returns, not saved")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "pipeline_class": self._pipeline_class}
