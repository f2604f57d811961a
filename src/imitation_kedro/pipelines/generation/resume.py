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

logger = logging.getLogger(__name__)

EXISTING = "existing"
TODO = "todo"
CORRUPT = "corrupt"


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


def image_status(
    path: str, loader: Callable[[], Any] | None, size: tuple[int, int] | None
) -> tuple[str, str]:
    """``(status, reason)`` of one planned image: existing, todo (absent) or corrupt.

    An image counts as existing only when it decodes completely; a decodable image of another
    size means the settings changed under the same model id, which must not be mixed silently.
    """
    if loader is None:
        return TODO, ""
    try:
        with _strict_decoding():
            image = loader()
            image.load()
    except Exception as exc:  # noqa: BLE001 - any decode failure means "write it again"
        return CORRUPT, f"{type(exc).__name__}: {exc}"
    if size is not None and tuple(image.size) != tuple(size):
        raise ValueError(
            f"existing image {path!r} is {image.size[0]}x{image.size[1]} but the settings ask "
            f"for {size[0]}x{size[1]}: the settings changed under the same model id; delete "
            "that model's folder or use a new model id"
        )
    return EXISTING, ""


def mark_existing(
    rows: pd.DataFrame, existing: dict[str, Callable[[], Any]], size: tuple[int, int] | None
) -> pd.DataFrame:
    """``rows`` plus ``status`` (existing/todo/corrupt) and ``status_reason``; logs the counts."""
    statuses = [image_status(p, existing.get(p), size) for p in rows["path"]]
    out = rows.assign(status=[s for s, _ in statuses], status_reason=[r for _, r in statuses])
    corrupt = out[out["status"] == CORRUPT]
    for path, reason in corrupt[["path", "status_reason"]].head(20).itertuples(index=False):
        logger.warning("generation: %s does not decode (%s); it will be regenerated", path, reason)
    counts = out["status"].value_counts().to_dict()
    logger.info(
        "generation plan: %d images, %d already complete, %d to render, %d corrupt to redo",
        len(out),
        counts.get(EXISTING, 0),
        counts.get(TODO, 0),
        counts.get(CORRUPT, 0),
    )
    return out
