"""Streaming input: a map-style dataset that decodes (and triggers) one image per item, and a
DataLoader whose workers persist across passes. Used by :mod:`.streaming`.

torch is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.seeding import stable_seed

from . import images
from .params import AttackParams
from .triggers import apply_trigger

MISSING = "missing image file"


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
        i, seed, epoch, views = item if isinstance(item, tuple) else (int(item), 0, 0, False)
        key = self.key(i)
        try:
            png = self.pngs[i]
            if png is None and self.paths.present[i]:
                png = Path(self.paths[i].decode()).read_bytes()
            if png is None:
                raise FileNotFoundError(key)
            # geometry per image kind (reference s5): clean images centre-cropped, triggered squashed
            squash = self.mode == "eval" or self.poisoned[i]
            img = images.decode_image(png, self.size, "squash" if squash else "crop")
            clean = images.decode_image(png, self.size) if self.mode == "eval" else img
        except FileNotFoundError:
            return i, None, MISSING
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a counted reject
            return i, None, f"undecodable image: {type(exc).__name__}"
        self.decoded += 1
        if self.mode == "eval":
            trig = apply_trigger(img[None], [key], self.attack, "test")[0][0]
            return i, (images.image_to_tensor(clean), images.image_to_tensor(trig)), None
        if self.poisoned[i]:
            img = apply_trigger(img[None], [key], self.attack, "train")[0][0]
        out = images.image_to_tensor(img)
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
