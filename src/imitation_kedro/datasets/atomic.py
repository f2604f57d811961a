"""Atomic file datasets: write a hidden temporary sibling, then rename it over the target.

A run killed mid-write leaves either the old file or the new one, never half of one. The
temporary name (``.<name>.<pid>.tmp``) does not end in the partition suffix, so a
``PartitionedDataset`` never lists it; a leftover one is logged and removed by the next save of
the same file. Files get the modes a plain ``open`` would give (the umask is respected).

``AtomicParquetDataset(corrupt="skip")`` also loads a truncated or unreadable file as an empty
table (logged, with the fix) instead of failing: meant for caches, whose missing rows are
simply computed again and written over the bad file.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pillow import ImageDataset

from imitation_kedro.models.hub import current_umask

logger = logging.getLogger(__name__)

PNG_TEXT_PREFIX = "imitation_kedro"
"""PNG text chunks whose key starts with this are written from ``image.info`` (provenance)."""


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """``write(binary file object)`` into a temporary sibling of ``path``, then rename it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        logger.warning("removing %s, left by an interrupted write of %s", leftover, target)
        leftover.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _local(protocol: str) -> bool:
    return protocol in ("file", "")


class AtomicParquetDataset(ParquetDataset):
    """``pandas.ParquetDataset`` whose local saves are atomic; ``corrupt: skip`` loads an
    unreadable file as an empty table (logged) instead of failing."""

    def __init__(self, *, corrupt: str = "raise", **kwargs: Any) -> None:
        if corrupt not in ("raise", "skip"):
            raise DatasetError(f"corrupt must be 'raise' or 'skip', got {corrupt!r}")
        self._corrupt = corrupt
        super().__init__(**kwargs)

    def load(self) -> pd.DataFrame:
        if self._corrupt == "raise":
            return super().load()
        try:
            return super().load()
        except Exception as exc:  # noqa: BLE001 - any read failure of a cache file: redo its rows
            path = get_filepath_str(self._get_load_path(), self._protocol)
            logger.warning(
                "%s is unreadable (%s: %s), probably cut short by a killed run; its rows are "
                "ignored and computed again (the file is replaced when they are saved)",
                path,
                type(exc).__name__,
                str(exc)[:120],
            )
            return pd.DataFrame()

    def save(self, data: pd.DataFrame) -> None:
        if not _local(self._protocol):
            return super().save(data)
        path = get_filepath_str(self._get_save_path(), self._protocol)
        buffer = io.BytesIO()
        data.to_parquet(buffer, **self._save_args)
        atomic_write(path, lambda fh: fh.write(buffer.getvalue()))
        self._invalidate_cache()


class AtomicImageDataset(ImageDataset):
    """``pillow.ImageDataset`` whose local saves are atomic and keep provenance text.

    ``image.info`` entries whose key starts with ``imitation_kedro`` are written as PNG text
    chunks and come back in ``image.info`` on load (the fingerprint a generated image was
    rendered with travels inside the file).
    """

    def save(self, data: Any) -> None:
        save_path = self._get_save_path()
        if not _local(self._protocol):
            return super().save(data)
        fmt = self._get_format(save_path)
        args = dict(self._save_args)
        text = {
            k: str(v)
            for k, v in getattr(data, "info", {}).items()
            if isinstance(k, str) and k.startswith(PNG_TEXT_PREFIX)
        }
        if text and fmt == "PNG" and "pnginfo" not in args:
            from PIL.PngImagePlugin import PngInfo

            info = PngInfo()
            for key, value in sorted(text.items()):
                info.add_text(key, value)
            args["pnginfo"] = info
        path = get_filepath_str(save_path, self._protocol)
        atomic_write(path, lambda fh: data.save(fh, format=fmt, **args))
        self._invalidate_cache()
