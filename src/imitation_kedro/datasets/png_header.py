"""Read-only: what a saved PNG says about itself, without decoding its pixels.

Generation's resume check needs, per image on disk, the render record stored in its text chunk
(``imitation_kedro.render``: the fingerprint) and whether the file is complete. Decoding every
image for that reads and inflates every pixel a second time at paper scale (the similarity stage
reads them again). PIL's ``Image.open`` parses the chunks up to the image data and stops; text
chunks written by :class:`~imitation_kedro.datasets.atomic.AtomicImageDataset` come before it.
A file is complete when it ends with PNG's ``IEND`` chunk (a write cut short does not).

Example (a ``PartitionedDataset``'s ``dataset:``)::

    int_existing_generated_images:
      type: imitation_kedro.datasets.existing_partitions.ExistingPartitionsDataset
      path: data/07_model_output/generated
      dataset: {type: imitation_kedro.datasets.png_header.PngHeaderDataset}
      filename_suffix: .png
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError, get_filepath_str, get_protocol_and_path

IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # length 0, type IEND, its fixed CRC


@dataclass(frozen=True)
class PngHeader:
    """A PNG's chunks before its pixels: ``info`` (text chunks), ``size``, ``mode``."""

    path: str
    info: dict[str, Any] = field(repr=False)
    size: tuple[int, int]
    mode: str
    complete: bool
    """The file ends with the IEND chunk."""

    def decode(self) -> Any:
        """The image with its pixels (``Image.load``: fails on a damaged file)."""
        from PIL import Image

        with fsspec.open(self.path, "rb") as fh:
            image = Image.open(fh)
            image.load()
        return image


class PngHeaderDataset(AbstractDataset[Any, PngHeader]):
    """Loads a :class:`PngHeader`; never saves."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol)
        self.metadata = metadata

    def load(self) -> PngHeader:
        from PIL import Image

        path = get_filepath_str(self._filepath, self._protocol)
        with self._fs.open(path, "rb") as fh:
            image = Image.open(fh, formats=["PNG"])  # reads up to the first IDAT chunk
            info, size, mode = dict(image.info), image.size, image.mode
            end = fh.seek(0, 2)
            fh.seek(max(0, end - len(IEND)))
            complete = fh.read() == IEND
        full = path if self._protocol == "file" else f"{self._protocol}://{path}"
        return PngHeader(path=full, info=info, size=size, mode=mode, complete=complete)

    def save(self, data: Any) -> None:
        raise DatasetError(f"PngHeaderDataset at {self._filepath} is read-only")

    def _exists(self) -> bool:
        return self._fs.exists(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "protocol": self._protocol}
