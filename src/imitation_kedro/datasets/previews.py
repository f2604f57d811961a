"""Image datasets that kedro-viz can preview even when they are folders of images.

``matplotlib.MatplotlibDataset`` previews one figure file, but a dict of figures is saved as a
folder, which its preview cannot open; a ``PartitionedDataset`` of images has no preview at all.
These subclasses preview the first image of the folder (sorted by name), so the image grids show
in kedro-viz next to the reports.
"""

from __future__ import annotations

import base64

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import ImagePreview
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.partitions import PartitionedDataset


class FigureFolderDataset(MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` whose preview also works when it saved several figures."""

    def preview(self) -> ImagePreview:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._fs.isdir(path):
            files = sorted(f for f in self._fs.find(path) if not self._fs.isdir(f))
            if not files:
                raise FileNotFoundError(f"{path}: no figure saved yet")
            path = files[0]
        with self._fs.open(path, mode="rb") as image:
            return ImagePreview(base64.b64encode(image.read()).decode("ascii"))


class ImageFolderDataset(PartitionedDataset):
    """``partitions.PartitionedDataset`` of images whose preview is its first image."""

    def preview(self) -> ImagePreview:
        partitions = sorted(self._list_partitions())
        if not partitions:
            raise FileNotFoundError(f"{self._path}: no image saved yet")
        with self._filesystem.open(partitions[0], mode="rb") as image:
            return ImagePreview(base64.b64encode(image.read()).decode("ascii"))
