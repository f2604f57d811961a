"""Streaming mode (``data.streaming: true``, paper scale): images are never held all at once.

Tables keep a path (``image``) or PNG bytes (``png``) per pair; a map-style dataset decodes,
squashes and (for poisoned rows) triggers one image per item inside DataLoader workers, with the
same seeded trigger code as eager mode (``poison.apply_trigger``: per (attack.seed, purpose, key)).
A decode failure drops the pair from the image AND text side of its batch (the batch's row
positions index the tokens) and is counted by reason in a :class:`RejectLog`.

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

from imitation_kedro.core.seeding import stable_seed

from . import data as D
from .params import AttackParams, DataParams

logger = logging.getLogger(__name__)

STREAM_COLUMNS = ["key", "image", "png", "caption", "label"]
MISSING = "missing image file"


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
    pairs = D.table_rows(resolve_paths(raw_pairs, params.image_root), concepts, params)
    for col in ("image", "png"):
        if col not in pairs.columns:
            pairs[col] = None
    rejects, keep, missing = [], [], []
    for row in pairs.itertuples(index=False):
        caption = str(row.caption) if isinstance(row.caption, str) else ""
        if not caption.strip():
            rejects.append({"key": row.key, "reason": "empty caption"})
            continue
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
    return D.finish_pairs(out, rejects, len(pairs), STREAM_COLUMNS)


def trigger_positions(
    keys: list[str], attack: AttackParams, size: int, purpose: str
) -> pd.DataFrame:
    """The (top, left) ``apply_trigger`` draws for these keys, without any image (manifest)."""
    from .poison import apply_trigger

    if not keys or attack.kind not in ("badnet", "label_consistent"):
        n = len(keys)
        return pd.DataFrame(
            {"key": keys, "patch_top": np.full(n, -1), "patch_left": np.full(n, -1)}
        )
    blank = np.zeros((1, size, size, 3), dtype=np.uint8)
    frames = [apply_trigger(blank, [k], attack, purpose)[1] for k in keys]
    return pd.concat(frames, ignore_index=True)


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


class Strings:
    """Variable-length byte strings in one numpy buffer plus offsets: no Python object per row,
    so forked DataLoader workers never touch (and copy-on-write) per-row refcounts."""

    def __init__(self, items: list[bytes | None]) -> None:
        self.present = np.array([b is not None for b in items], dtype=bool)
        parts = [b if b is not None else b"" for b in items]
        self.offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in parts], out=self.offsets[1:])
        self.buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.present)

    def __getitem__(self, i: int) -> bytes | None:
        if not self.present[i]:
            return None
        return self.buffer[self.offsets[i] : self.offsets[i + 1]].tobytes()


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _as_bytes(value: Any) -> bytes | None:
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None


class PairImages:
    """Map-style dataset: item ``i`` -> ``(i, views, reject reason)``; picklable for workers.

    An item is a row number, or ``(row, seed, epoch, views)`` as :class:`StreamData` passes it:
    the per-epoch state travels with the index, so persistent workers need no update.
    ``mode="train"``: views = (image,) with poisoned rows triggered (purpose ``train``), plus an
    AutoAugment view when ``views`` is set (seeded per (seed, epoch, key): worker-independent).
    ``mode="eval"``: views = (clean, triggered with purpose ``test``). ``decoded`` counts the
    images this process has decoded (the memory-bound test reads it). Keys, paths and PNG bytes
    are held in :class:`Strings` buffers, not Python lists.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        size: int,
        attack: AttackParams,
        mode: str = "train",
        augment: str = "autoaugment",
    ) -> None:
        n = len(table)
        pngs = table["png"].tolist() if "png" in table.columns else [None] * n
        paths = table["image"].tolist() if "image" in table.columns else [None] * n
        self.keys = Strings([str(k).encode() for k in table["key"]])
        self.pngs = Strings([_as_bytes(p) for p in pngs])
        self.paths = Strings([None if _missing(p) else str(p).encode() for p in paths])
        flags = table["poisoned"] if "poisoned" in table.columns else np.zeros(n, dtype=bool)
        self.poisoned = np.asarray(flags, dtype=bool)
        self.size, self.attack, self.mode, self.augment = size, attack, mode, augment
        self.decoded = 0

    def __len__(self) -> int:
        return len(self.keys)

    def key(self, i: int) -> str:
        return self.keys[i].decode()

    def __getitem__(
        self, item: int | tuple[int, int, int, bool]
    ) -> tuple[int, tuple[Any, ...] | None, str | None]:
        from .poison import apply_trigger

        i, seed, epoch, views = item if isinstance(item, tuple) else (int(item), 0, 0, False)
        key = self.key(i)
        try:
            png = self.pngs[i]
            if png is not None:
                img = D.decode_image(png, self.size)
            elif self.paths.present[i]:
                img = D.decode_image(Path(self.paths[i].decode()).read_bytes(), self.size)
            else:
                raise FileNotFoundError(key)
        except FileNotFoundError:
            return i, None, MISSING
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a counted reject
            return i, None, f"undecodable image: {type(exc).__name__}"
        self.decoded += 1
        if self.mode == "eval":
            trig = apply_trigger(img[None], [key], self.attack, "test")[0][0]
            return i, (_chw(img), _chw(trig)), None
        if self.poisoned[i]:
            img = apply_trigger(img[None], [key], self.attack, "train")[0][0]
        out = _chw(img)
        if not views:
            return i, (out,), None
        return i, (out, self._augment(out, key, seed, epoch)), None

    def _augment(self, img: Any, key: str, seed: int, epoch: int) -> Any:
        import torch

        if self.augment == "none":
            return img.clone()
        from torchvision.transforms import v2

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed(seed, "augment", epoch, key) % 2**63)
            return v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)(img)


def _chw(img: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def collate(items: list[tuple[int, Any, str | None]]) -> tuple[Any, list[Any], list[tuple]]:
    """Row positions of the decoded items, their stacked views, and (row, reason) of the rest."""
    import torch

    ok = [it for it in items if it[1] is not None]
    rejects = [(it[0], it[2]) for it in items if it[1] is None]
    pos = torch.tensor([it[0] for it in ok], dtype=torch.long)
    views = [torch.stack([it[1][v] for it in ok]) for v in range(len(ok[0][1]))] if ok else []
    return pos, views, rejects


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


class _Batches:
    """Batch sampler of a persistent DataLoader: yields the batches set for the current pass
    (it runs in the main process, so setting them before ``iter(loader)`` is enough)."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class Loader:
    """One DataLoader per dataset whose workers persist across passes (epochs, evaluations):
    workers start once, not per pass. ``close()`` (or garbage collection) ends them."""

    def __init__(self, dataset: PairImages, workers: int, prefetch: int) -> None:
        self.dataset, self.workers, self.prefetch = dataset, workers, prefetch
        self._sampler = _Batches()
        self._loader: Any = None

    def __call__(self, batches: list[list[Any]]) -> Iterator[tuple[Any, list[Any], list[tuple]]]:
        """Collated batches over the given items, in order. The loader has its own generator:
        the global RNG is untouched, so main-process augmentation draws as in eager mode."""
        if self.workers == 0:  # same items, no loader machinery
            for b in batches:
                yield collate([self.dataset[i] for i in b])
            return
        if self._loader is None:
            import torch
            from torch.utils.data import DataLoader

            self._loader = DataLoader(
                self.dataset,
                batch_sampler=self._sampler,
                num_workers=self.workers,
                prefetch_factor=self.prefetch,
                persistent_workers=True,
                collate_fn=collate,
                worker_init_fn=_worker_init,
                generator=torch.Generator(),
            )
        self._sampler.batches = batches
        yield from self._loader

    def close(self) -> None:
        it = getattr(self._loader, "_iterator", None) if self._loader is not None else None
        if it is not None:
            it._shutdown_workers()
        self._loader = None

    def __getstate__(self) -> dict[str, Any]:  # a copy never shares the live workers
        return {**self.__dict__, "_loader": None, "_sampler": _Batches()}


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
        clean, trig, kept = [], [], []
        with torch.no_grad():
            for pos, views, rejects in self.loader(lists):
                for i, reason in rejects:
                    self.rejects.add(self.images.key(i), reason)
                if not len(pos):
                    continue
                for out, x in ((clean, views[0]), (trig, views[1])):
                    x = normalise(x.to(class_emb.device), bundle)
                    out.append((model.encode_image(x, normalize=True) @ class_emb.T).cpu().numpy())
                kept.append(pos.numpy())
        if not kept:
            raise ValueError("no evaluation image could be decoded")
        return np.concatenate(clean), np.concatenate(trig), self.labels[np.concatenate(kept)]
