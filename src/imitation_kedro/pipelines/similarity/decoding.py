"""Decode images safely and overlap decoding/preprocessing with the model (thread pool).

Every failure becomes a reason string, never an exception that stops the run and never a
silent drop: the caller records it as a reject.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

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


def iter_decoded_batches(
    sources: Sequence[Any],
    batch_size: int,
    workers: int = 2,
    prefetch: int = 2,
    convert: bool = True,
    prepare: Callable[[Image.Image], Any] | None = None,
) -> Iterator[tuple[int, list[Decoded]]]:
    """Yield ``(start, decoded)`` per batch while the next ``prefetch`` batches decode in threads."""
    if not sources:
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="similarity-decode") as pool:
        pending: deque[tuple[int, list[Future[Decoded]]]] = deque()
        chunks: Iterable[tuple[int, Sequence[Any]]] = (
            (i * batch_size, c) for i, c in enumerate(_chunks(sources, batch_size))
        )
        chunk_iter = iter(chunks)

        def submit_next() -> None:
            nxt = next(chunk_iter, None)
            if nxt is not None:
                start, chunk = nxt
                pending.append(
                    (start, [pool.submit(_decode_and_prepare, s, convert, prepare) for s in chunk])
                )

        for _ in range(prefetch + 1):
            submit_next()
        while pending:
            start, futures = pending.popleft()
            submit_next()
            yield start, [f.result() for f in futures]
