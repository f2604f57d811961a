"""Resume support: which planned images a previous (possibly killed) run already completed.

The images on disk arrive as data, ``{partition id: loader}`` from the catalog entry
``int_existing_generated_images`` (``imitation_kedro.datasets.existing_partitions``); this
module only decides, per planned image, whether it is complete, absent or corrupt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from imitation_kedro.datasets.png_header import PngHeader
from imitation_kedro.pipelines.generation.fingerprint import (
    PIXELS_KEY,
    dump_record,
    pixels_sha256,
    read_record,
)

logger = logging.getLogger(__name__)

EXISTING = "existing"
TODO = "todo"
CORRUPT = "corrupt"
STALE = "stale"


@contextmanager
def _strict_decoding() -> Iterator[None]:
    """Decode with PIL's truncated-image tolerance off, whatever another library set.

    ``face_recognition`` sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` process-wide at import;
    with it, a half-written PNG from a killed run "decodes" and would be kept as complete.
    """
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def image_status(path: str, loader: Callable[[], Any] | None) -> tuple[str, str, str, str]:
    """``(status, reason, stored render record JSON, pixels hash)`` of one planned image.

    ``loader`` gives a :class:`~imitation_kedro.datasets.png_header.PngHeader` (the catalog's
    ``int_existing_generated_images``: text chunks only, no pixels decoded) or an image. A header
    counts as existing when the file is complete (ends with IEND) and carries its pixel hash; an
    older file without one, or an image, only when it decodes completely. Whether its render
    record still matches the model and settings is decided once the model is loaded
    (``generate_images``), where a mismatch makes it ``stale``.
    """
    if loader is None:
        return TODO, "absent", "", ""
    try:
        with _strict_decoding():
            image = loader()
            pixels = None
            if isinstance(image, PngHeader):
                if not image.complete:
                    raise OSError("truncated: the file does not end with PNG's IEND chunk")
                pixels = image.info.get(PIXELS_KEY)
                if not pixels:  # written before the pixel hash was stored in the file
                    image = image.decode()
            if not pixels:
                image.load()
                pixels = pixels_sha256(image)
    except Exception as exc:  # noqa: BLE001 - any decode failure means "write it again"
        return CORRUPT, f"{type(exc).__name__}: {exc}", "", ""
    record = read_record(image)
    return EXISTING, "", dump_record(record) if record else "", pixels


def mark_existing(rows: pd.DataFrame, existing: dict[str, Callable[[], Any]]) -> pd.DataFrame:
    """``rows`` plus ``status`` (existing/todo/corrupt), ``status_reason``, ``stored_record``
    and ``pixels_sha256`` (of the existing images); logs the counts."""
    statuses = [image_status(p, existing.get(p)) for p in rows["path"]]
    out = rows.assign(
        status=[s[0] for s in statuses],
        status_reason=[s[1] for s in statuses],
        stored_record=[s[2] for s in statuses],
        pixels_sha256=[s[3] for s in statuses],
    )
    corrupt = out[out["status"] == CORRUPT]
    for path, reason in corrupt[["path", "status_reason"]].head(20).itertuples(index=False):
        logger.warning("generation: %s does not decode (%s); it will be regenerated", path, reason)
    counts = out["status"].value_counts().to_dict()
    logger.info(
        "generation plan: %d images, %d on disk (fingerprints checked once the model is "
        "loaded), %d absent, %d corrupt to redo",
        len(out),
        counts.get(EXISTING, 0),
        counts.get(TODO, 0),
        counts.get(CORRUPT, 0),
    )
    return out
