"""Streaming mode (``data.streaming: true``, paper scale): images are never held all at once.

Tables keep a path (``image``) or PNG bytes (``png``) per pair; a map-style dataset
(:class:`.loader.PairImages`) decodes, squashes and (for poisoned rows) triggers one image per item
inside DataLoader workers, with the same seeded trigger code as eager mode
(``triggers.apply_trigger``: per (attack.seed, purpose, key)). A decode failure drops the pair
from the image AND text side of its batch (the batch's row positions index the tokens) and is
counted by reason in a :class:`RejectLog`. Chosen by :func:`.source.pair_source`.

torch is imported inside functions only.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import captioned_rows, finish_pairs, table_rows
from .distributed import gather_in_order, my_shard
from .loader import MISSING, Loader, PairImages
from .params import AttackParams, DataParams

logger = logging.getLogger(__name__)

STREAM_COLUMNS = ["key", "image", "png", "caption", "label"]
__all__ = ["MISSING", "PairImages", "RejectLog", "StreamData", "StreamEvalSet", "StreamingPairs"]


def resolve_paths(table: pd.DataFrame, image_root: str | None) -> pd.DataFrame:
    """``image`` (relative to ``image_root``) -> a path string; no file is opened."""
    if "png" in table.columns or "image" not in table.columns:
        return table
    root = Path(image_root) if image_root else None
    return table.assign(
        image=[
            None if p is None else str(root / str(p)) if root else str(p) for p in table["image"]
        ]
    )


def lazy_pairs(
    raw_pairs: pd.DataFrame, concepts: pd.DataFrame, params: DataParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``build_pairs`` without reading images: key, image (path) or png (bytes), caption, label.

    Rejects: empty captions and (``data.check_files``) image paths that do not exist; images
    that exist but fail to decode are found and counted later, per batch.
    """
    pairs = table_rows(resolve_paths(raw_pairs, params.image_root), concepts, params)
    for col in ("image", "png"):
        if col not in pairs.columns:
            pairs[col] = None
    rejects, keep, missing = [], [], []
    for row in captioned_rows(pairs, rejects):
        if row.png is None and (
            row.image is None or (params.check_files and not os.path.isfile(row.image))
        ):
            rejects.append({"key": row.key, "reason": MISSING})
            missing.append(str(row.image))
            continue
        keep.append(row.key)
    if missing:
        logger.warning("backdoor: %d image files missing, e.g. %s", len(missing), missing[:5])
    out = pairs.set_index("key").loc[keep].reset_index()
    return finish_pairs(out, rejects, len(pairs), STREAM_COLUMNS)


class RejectLog:
    """Pairs dropped while streaming: key -> reason (each key counted once per run)."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def add(self, key: str, reason: str) -> None:
        if key not in self.reasons:
            logger.warning("backdoor: dropped pair %r from its batch (%s)", key, reason)
        self.reasons[key] = reason

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(self.reasons.values()))

    def __len__(self) -> int:
        return len(self.reasons)


@dataclass
class StreamData:
    """Training pairs streamed per batch: dataset rows aligned with the token rows."""

    images: PairImages
    tokens: Any
    tokens_aug: Any
    workers: int = 0
    prefetch: int = 2
    augment_in_workers: bool = False
    rejects: RejectLog = field(default_factory=RejectLog)
    loader: Loader = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = {len(self.images), len(self.tokens), len(self.tokens_aug)}
        if len(n) != 1:
            raise ValueError(f"misaligned training data: lengths {sorted(n)}")
        self.loader = Loader(self.images, self.workers, self.prefetch)

    def close(self) -> None:
        """End the worker processes (they persist across the epochs of one run)."""
        self.loader.close()

    def batches(
        self, idx: list[Any], epoch: int, seed: int, augment: Any
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """(images, tokens, augmented tokens, augmented images or None) per index batch."""
        two = augment is not None and self.augment_in_workers
        items = [[(int(i), seed, epoch, two) for i in b] for b in idx]
        for pos, views, rejects in self.loader(items):
            for i, reason in rejects:
                self.rejects.add(self.images.key(i), reason)
            if not len(pos):
                yield None, None, None, None
                continue
            yield views[0], self.tokens[pos], self.tokens_aug[pos], views[1] if two else None


@dataclass
class StreamEvalSet:
    """One evaluation split streamed in order: clean and triggered views of each image."""

    images: PairImages
    labels: np.ndarray
    workers: int = 0
    prefetch: int = 2
    rejects: RejectLog = field(default_factory=RejectLog)
    loader: Loader = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.loader = Loader(self.images, self.workers, self.prefetch)

    def close(self) -> None:
        """End the worker processes (they persist across the evaluations of one node)."""
        self.loader.close()

    def scores(self, bundle: Any, class_emb: Any, batch_size: int) -> tuple[Any, Any, Any]:
        """Cosine scores of clean and triggered images, and the labels of the decoded rows."""
        import torch

        from .train import normalise

        model = bundle.model
        model.eval()
        n = len(self.images)
        lists = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        shard = my_shard(lists)  # data-parallel: whole batches per rank, gathered in order
        mine = []
        with torch.no_grad():
            for (b, _), (pos, views, rejects) in zip(
                shard, self.loader([lst for _, lst in shard]), strict=True
            ):
                for i, reason in rejects:
                    self.rejects.add(self.images.key(i), reason)
                if not len(pos):
                    mine.append((b, ()))
                    continue
                scores = []
                for x in views[:2]:
                    x = normalise(x.to(class_emb.device), bundle)
                    scores.append(
                        (model.encode_image(x, normalize=True) @ class_emb.T).cpu().numpy()
                    )
                mine.append((b, (scores[0], scores[1], pos.numpy())))
        done = [r for r in gather_in_order(mine, len(lists)) if r]
        if not done:
            raise ValueError("no evaluation image could be decoded")
        clean, trig, kept = (np.concatenate([r[j] for r in done]) for j in range(3))
        return clean, trig, self.labels[kept]


class StreamingPairs:
    """Pair tables hold paths or bytes; images are decoded (and triggered) per batch.

    ``rejects`` logs the pairs dropped at decode time, training and evaluation, for the node.
    """

    def __init__(self, data: DataParams, attack: AttackParams) -> None:
        self.data, self.attack = data, attack
        self.rejects = RejectLog()

    def attach_images(self, table: pd.DataFrame, image_root: str | None) -> pd.DataFrame:
        """``image`` paths joined with ``image_root``; no file is opened."""
        return resolve_paths(table, image_root)

    def build_pairs(
        self, raw_pairs: pd.DataFrame, concepts: pd.DataFrame, image_root: str | None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The pair table without reading images (:func:`lazy_pairs`)."""
        data = self.data.model_copy(update={"image_root": image_root})
        return lazy_pairs(raw_pairs, concepts, data)

    def with_triggers(self, pairs: pd.DataFrame, rows: Any) -> pd.DataFrame:
        """Nothing to bake: the loader triggers the rows flagged ``poisoned`` per batch."""
        return pairs

    def reject_columns(self) -> dict[str, int]:
        """Pairs dropped so far (a ``decode_rejects`` column of the metric tables)."""
        if len(self.rejects):
            logger.warning(
                "backdoor: %d pairs dropped while streaming: %s",
                len(self.rejects),
                self.rejects.by_reason(),
            )
        return {"decode_rejects": len(self.rejects)}

    def train_data(self, rows: pd.DataFrame, tokens: Any, tokens_aug: Any, augment: str) -> Any:
        """Training pairs decoded (and triggered, for poisoned rows) per batch."""
        d = self.data
        pixels = PairImages(rows, d.image_size, self.attack, "train", augment)
        return StreamData(
            pixels,
            tokens,
            tokens_aug,
            d.loader_workers,
            d.prefetch,
            d.augment_in_workers,
            self.rejects,
        )

    def eval_set(self, rows: pd.DataFrame, labels: np.ndarray) -> Any:
        """Clean and triggered views of each evaluation image, streamed in order."""
        d = self.data
        pixels = PairImages(rows, d.image_size, self.attack, "eval")
        return StreamEvalSet(pixels, labels, d.loader_workers, d.prefetch, self.rejects)
