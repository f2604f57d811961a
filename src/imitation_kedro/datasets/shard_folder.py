"""A folder of parquet shards that a node fills one shard at a time (resumable downloads).

``load`` hands the node a :class:`ShardFolder`: it reads a shard written before (to resume) and
writes a shard atomically (a temporary file renamed into place), so a killed run leaves only
complete shards. The folder is declared once, in the catalog; a ``PartitionedDataset`` over the
same ``path`` reads the shards back (``raw_laion_images`` at paper scale). Example::

    int_downloaded_image_shards:
      type: imitation_kedro.datasets.shard_folder.ShardFolderDataset
      path: data/02_intermediate/frequency/laion_images
      metadata: {kedro-viz: {layer: intermediate}}

A tool that fills the folder itself (img2dataset) gets the folder from :attr:`ShardFolder.path`
and its input list from :meth:`ShardFolder.write_sidecar`, a file beside the folder (never taken
for a shard).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io.core import AbstractDataset, DatasetError

SUFFIX = ".parquet"


class ShardFolder:
    """Parquet shards ``{path}/{name}.parquet``, read whole and written atomically."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def shard_path(self, name: str) -> Path:
        return self.path / f"{name}{SUFFIX}"

    def read(self, name: str) -> pd.DataFrame | None:
        """The shard ``name`` as written before, or None when there is none."""
        path = self.shard_path(name)
        return pq.read_table(path).to_pandas() if path.exists() else None

    def write(self, name: str, table: pa.Table) -> None:
        """Write the shard ``name`` (a temporary file renamed into place: never half a shard)."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.shard_path(name)
        tmp = path.with_suffix(f"{SUFFIX}.tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)

    def write_sidecar(self, tag: str, frame: pd.DataFrame) -> Path:
        """Write ``{folder}_{tag}.parquet`` beside the folder (e.g. img2dataset's url list)."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path.parent / f"{self.path.name}_{tag}{SUFFIX}"
        frame.to_parquet(path, index=False)
        return path


class ShardFolderDataset(AbstractDataset[Any, ShardFolder]):
    """Loads a :class:`ShardFolder` writer for ``path``; the node writes the shards through it."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = str(path)
        self.metadata = metadata

    def load(self) -> ShardFolder:
        return ShardFolder(self._path)

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{type(self).__name__} ({self._path}) is an input: the node writes the shards "
            "through the ShardFolder it loads"
        )

    def _exists(self) -> bool:
        return Path(self._path).is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
