"""Decode images safely and overlap decoding/preprocessing with the model.

Two back-ends, the same batches in the same order: ``thread`` (a thread pool; PNG/JPEG decode
and PIL resize release the GIL) and ``process`` (a ``torch.utils.data.DataLoader`` with forked
worker processes and ``prefetch`` batches per worker; no GIL at all, for many-core GPU hosts).
Workers run only PIL/numpy work (``prepare`` returns uint8 arrays for the CLIP/CSD embedders):
torch ops in many decode threads would each fan out over torch's intra-op pool and
oversubscribe the cores.

Every failure becomes a reason string, never an exception that stops the run and never a
silent drop: the caller records it as a reject.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

_KNOWN_MODES = {
    "1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
    "I", "I;16", "I;16B", "I;16L", "I;16N", "F",
}


@dataclass(frozen=True)
class Decoded:
    """One decoded item: ``value`` is the prepared input (or the RGB image); ``reason`` on failure."""

    value: Any = None
    reason: str = ""
    mode: str = ""


def to_rgb(image: Image.Image, convert: bool) -> tuple[Image.Image | None, str]:
    """8-bit RGB from any PIL mode, or ``(None, reason)``.

    Conversion is the project's one rule (``imitation_kedro.models.embedders.to_rgb``): alpha
    is composited on white, 16-bit greyscale is scaled by its range (PIL's ``convert`` would
    clip it to white), float images are read as 0..1 or 0..255.
    """
    from imitation_kedro.models.embedders import to_rgb as convert_to_rgb

    mode = image.mode
    if mode == "RGB":
        return image, ""
    if not convert:
        return None, f"mode {mode} is not RGB (similarity.convert_modes is false)"
    if mode not in _KNOWN_MODES:
        return None, f"unsupported image mode {mode}"
    try:
        return convert_to_rgb(image), ""
    except Exception as exc:  # noqa: BLE001 - a per-image failure is a counted reject
        return None, f"cannot convert mode {mode} to RGB: {type(exc).__name__}: {str(exc)[:120]}"


def decode_image(source: Any, convert: bool) -> tuple[Image.Image | None, str, str]:
    """``source`` is PNG/JPEG bytes, a PIL image, or a callable returning either."""
    try:
        obj = source() if callable(source) else source
        if isinstance(obj, (bytes, bytearray, memoryview)):
            if len(obj) == 0:
                return None, "empty image file (0 bytes)", ""
            obj = Image.open(io.BytesIO(bytes(obj)))
        if not isinstance(obj, Image.Image):
            return None, f"not an image: {type(obj).__name__}", ""
        obj.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return None, f"corrupt image: {type(exc).__name__}: {str(exc)[:120]}", ""
    mode = obj.mode
    if obj.width < 2 or obj.height < 2:
        return None, f"image too small ({obj.width}x{obj.height})", mode
    rgb, reason = to_rgb(obj, convert)
    return rgb, reason, mode


def _decode_and_prepare(source: Any, convert: bool, prepare: Callable[[Image.Image], Any] | None) -> Decoded:
    image, reason, mode = decode_image(source, convert)
    if image is None:
        return Decoded(reason=reason, mode=mode)
    if prepare is None:
        return Decoded(image, mode=mode)
    try:
        return Decoded(prepare(image), mode=mode)
    except Exception as exc:  # noqa: BLE001 - a per-image failure is a counted reject
        return Decoded(reason=f"preprocessing failed: {type(exc).__name__}: {str(exc)[:120]}", mode=mode)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


Backend = Literal["thread", "process"]


def iter_decoded_batches(
    sources: Sequence[Any],
    batch_size: int,
    workers: int = 2,
    prefetch: int = 2,
    convert: bool = True,
    prepare: Callable[[Image.Image], Any] | None = None,
    backend: Backend = "thread",
) -> Iterator[tuple[int, list[Decoded]]]:
    """Yield ``(start, decoded)`` per batch, in order, while the next batches decode in workers.

    ``thread``: ``workers`` threads, ``prefetch`` batches queued ahead of the one consumed.
    ``process``: a DataLoader with ``workers`` forked processes (each limited to one torch
    thread) and ``prefetch`` batches per worker; ``sources`` and ``prepare`` are inherited by
    the fork, not pickled.
    """
    if not sources:
        return
    if backend == "process":
        yield from _process_batches(sources, batch_size, workers, prefetch, convert, prepare)
        return
    if backend != "thread":
        raise ValueError(f"unknown decode backend {backend!r} (thread or process)")
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="similarity-decode") as pool:
        pending: deque[tuple[int, list[Future[Decoded]]]] = deque()
        chunks: Iterable[tuple[int, Sequence[Any]]] = (
            (i * batch_size, c) for i, c in enumerate(_chunks(sources, batch_size))
        )
        chunk_iter = iter(chunks)

        def submit_next() -> None:
            nxt = next(chunk_iter, None)
            if nxt is not None:  # one task per worker and batch: few futures, no per-image lock
                start, chunk = nxt
                step = -(-len(chunk) // workers)
                pending.append((start, [
                    pool.submit(_decode_many, chunk[i : i + step], convert, prepare)
                    for i in range(0, len(chunk), step)
                ]))

        for _ in range(prefetch + 1):
            submit_next()
        while pending:
            start, futures = pending.popleft()
            submit_next()
            yield start, [d for f in futures for d in f.result()]


def _decode_many(sources: Sequence[Any], convert: bool, prepare: Callable | None) -> list[Decoded]:
    return [_decode_and_prepare(s, convert, prepare) for s in sources]


class _DecodeDataset:
    """Map-style dataset for the DataLoader: item ``i`` -> ``Decoded`` of ``sources[i]``."""

    def __init__(self, sources: Sequence[Any], convert: bool, prepare: Callable | None) -> None:
        self.sources, self.convert, self.prepare = sources, convert, prepare

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> Decoded:
        return _decode_and_prepare(self.sources[index], self.convert, self.prepare)


def _as_list(batch: list[Decoded]) -> list[Decoded]:
    return batch


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


def _process_batches(
    sources: Sequence[Any], batch_size: int, workers: int, prefetch: int, convert: bool,
    prepare: Callable | None,
) -> Iterator[tuple[int, list[Decoded]]]:
    import multiprocessing

    from torch.utils.data import DataLoader

    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    )
    loader = DataLoader(
        _DecodeDataset(sources, convert, prepare),  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_as_list,
        prefetch_factor=max(1, prefetch),
        worker_init_fn=_worker_init,
        multiprocessing_context=context,
    )
    for i, batch in enumerate(loader):
        yield i * batch_size, batch
