"""Eager mode (``data.streaming: false``, the miniature world): every image decoded once into memory.

``prepare_pairs`` reads and decodes every image (rejects counted), poisoned images are stored
triggered (PNG, B5), training and evaluation hold uint8 tensors. Chosen by :func:`.source.pair_source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import images
from .data import PAIR_COLUMNS, captioned_rows, finish_pairs, table_rows
from .evaluate import EvalSet
from .params import AttackParams, DataParams
from .train import TrainData
from .triggers import apply_trigger


def read_image_paths(table: pd.DataFrame, image_root: str | None) -> pd.DataFrame:
    """CleanCLIP/ImageNet layout (``image`` = file path): add ``png`` = the file bytes.

    A missing or unreadable file gets ``png = None`` and becomes a counted reject downstream.
    """
    if "png" in table.columns or "image" not in table.columns:
        return table
    root = Path(image_root or ".")

    def read(rel: str) -> bytes | None:
        try:
            return (root / str(rel)).read_bytes()
        except OSError:
            return None

    return table.assign(png=[read(p) for p in table["image"]])


class EagerPairs:
    """Pair tables hold PNG bytes; images are decoded once per node into memory."""

    def __init__(self, data: DataParams, attack: AttackParams) -> None:
        self.data, self.attack = data, attack

    def attach_images(self, table: pd.DataFrame, image_root: str | None) -> pd.DataFrame:
        """``image`` paths -> ``png`` bytes (read now)."""
        return read_image_paths(table, image_root)

    def build_pairs(
        self, raw_pairs: pd.DataFrame, concepts: pd.DataFrame, image_root: str | None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Validate pairs, decode every image once (rejects counted), attach labels.

        ``raw_pairs`` needs ``png`` (or an ``image`` path under ``image_root``) and ``caption``;
        ``key`` and ``label`` are used when present (otherwise the key is the row number and the
        label is the one concept the caption names). The original bytes are kept: clean images
        are centre-cropped and triggered ones squashed when used (``images.fit_image``).
        """
        size = self.data.image_size
        pairs = table_rows(self.attach_images(raw_pairs, image_root), concepts, self.data)
        rejects, keep = [], []
        for row in captioned_rows(pairs, rejects):
            try:
                if row.png is None:
                    raise FileNotFoundError("no image bytes")
                images.decode_image(row.png, size)
            except Exception as exc:  # noqa: BLE001 - any decoder failure is a counted reject
                reason = f"undecodable image: {type(exc).__name__}"
                rejects.append({"key": row.key, "reason": reason})
                continue
            keep.append(row.key)
        out = pairs.set_index("key").loc[keep].reset_index()
        return finish_pairs(out, rejects, len(pairs), PAIR_COLUMNS)

    def with_triggers(self, pairs: pd.DataFrame, rows: Any) -> pd.DataFrame:
        """Bake the ``train`` trigger into the stored PNG of ``rows`` (B5: lossless), on the
        image squashed to ``data.image_size`` (the paper's geometry for triggered images)."""
        keys = pairs.loc[rows, "key"].tolist()
        decoded = images.decode_images(pairs.loc[rows, "png"], self.data.image_size, "squash")
        triggered, _ = apply_trigger(decoded, keys, self.attack, "train")
        pairs.loc[rows, "png"] = pd.Series([images.encode_png(a) for a in triggered], index=rows)
        return pairs

    def reject_columns(self) -> dict[str, int]:
        """Eager tables were decoded up front: nothing is dropped later, no extra column."""
        return {}

    def train_data(self, rows: pd.DataFrame, tokens: Any, tokens_aug: Any, augment: str) -> Any:
        """Every training image decoded into one uint8 tensor (poisons are stored triggered)."""
        pixels = images.decode_images(rows["png"], self.data.image_size)
        return TrainData(images.images_to_tensor(pixels), tokens, tokens_aug)

    def eval_set(self, rows: pd.DataFrame, labels: np.ndarray) -> Any:
        """Clean images and the same images with the ``test`` trigger, in memory."""
        clean = images.decode_images(rows["png"], self.data.image_size)
        squashed = images.decode_images(rows["png"], self.data.image_size, "squash")
        trig, _ = apply_trigger(squashed, rows["key"].tolist(), self.attack, "test")
        return EvalSet(images.images_to_tensor(clean), images.images_to_tensor(trig), labels)
