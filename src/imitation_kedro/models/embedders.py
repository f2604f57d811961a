"""Image embedders behind one small protocol; the open_clip back-end lives here.

Every back-end returns float32, L2-normalised rows, one per input image, in input order, and
raises (naming the image index) instead of returning NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from imitation_kedro.core.progress import progress

if TYPE_CHECKING:
    from PIL import Image


class EmbeddingError(ValueError):
    """An input cannot be embedded (empty list, not an image) or the model produced NaN/inf."""


@runtime_checkable
class ImageEmbedder(Protocol):
    """``embed(images) -> (n, dim)`` float32 array with L2-normalised rows."""

    dim: int

    def embed(self, images: list[Image.Image]) -> np.ndarray: ...


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode -> 8-bit RGB, explicitly.

    Transparency (RGBA, LA, P with a transparent index) is composited over ``background``
    (white) rather than dropped; 16/32-bit integer images (``I;16``, ``I``) are scaled from their
    bit depth to 0..255 (not clipped); float images (``F``) are read as 0..1 when their maximum is
    <= 1, else 0..255.
    """
    from PIL import Image as PILImage

    mode = image.mode
    if mode == "RGB":
        return image
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        arr = np.asarray(image, dtype=np.float64)
        full = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return PILImage.fromarray(_to_uint8(arr / full * 255.0)).convert("RGB")
    if mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        scale = 255.0 if np.nanmax(arr, initial=0) <= 1.0 else 1.0
        return PILImage.fromarray(_to_uint8(arr * scale)).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in {"RGBA", "LA", "RGBa", "La", "PA"}:
        rgba = image.convert("RGBA")
        canvas = PILImage.new("RGBA", rgba.size, (*background, 255))
        return PILImage.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)


def check_embeddings(emb: np.ndarray, offset: int = 0, what: str = "image") -> np.ndarray:
    """Raise :class:`EmbeddingError` naming the first row (plus ``offset``) that is NaN/inf/zero."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EmbeddingError(
            f"{what} {offset + i} got a NaN/inf embedding ({int(bad.sum())} in its batch)"
        )
    norms = np.linalg.norm(emb, axis=1)
    if (norms == 0).any():
        i = int(np.flatnonzero(norms == 0)[0])
        raise EmbeddingError(f"{what} {offset + i} got an all-zero embedding")
    return emb


class PixelPipeline:
    """A CLIP-style eval transform split in two: uint8 image work per image, float work per batch.

    ``transform`` is a torchvision ``Compose`` of PIL steps (resize, crop, mode conversion)
    followed by ``ToTensor`` and ``Normalize`` (open_clip's eval preprocess, CSD's transform).
    ``__call__`` runs the PIL steps and returns the ``(H, W, 3)`` uint8 array ``ToTensor`` would
    read (thread-safe, no torch op, so decode threads never contend for torch's intra-op pool);
    :meth:`to_batch` stacks such arrays (in pinned memory when the target is a GPU), moves the
    uint8 bytes (a quarter of float32) to the device and there does ``ToTensor``'s ``/ 255`` and
    ``Normalize``'s ``(x - mean) / std`` with the same float32 operations, so the batch equals
    ``torch.stack([transform(im) for im in images])`` bit for bit.
    """

    def __init__(self, pil_steps: Sequence[Any], mean: Sequence[float], std: Sequence[float]):
        self.pil_steps = list(pil_steps)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self._stats: dict[Any, tuple[Any, Any]] = {}

    @classmethod
    def from_transform(cls, transform: Any) -> PixelPipeline | None:
        """Split ``Compose([*pil_steps, ToTensor, Normalize])``; ``None`` for any other shape."""
        from torchvision import transforms as T

        steps = list(getattr(transform, "transforms", []))
        if len(steps) < 2:
            return None
        to_tensor, normalize = steps[-2], steps[-1]
        if not isinstance(to_tensor, T.ToTensor) or not isinstance(normalize, T.Normalize):
            return None
        if any(isinstance(s, (T.ToTensor, T.Normalize, T.PILToTensor)) for s in steps[:-2]):
            return None
        mean, std = normalize.mean, normalize.std
        if len(mean) != 3 or len(std) != 3:
            return None
        return cls(steps[:-2], mean, std)

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = to_rgb(image)
        for step in self.pil_steps:
            image = step(image)
        if image.mode != "RGB":  # a step that changed the mode (never for CLIP transforms)
            image = image.convert("RGB")
        return np.asarray(image, dtype=np.uint8)

    def to_batch(self, arrays: Sequence[np.ndarray], device: Any = "cpu", dtype: Any = None) -> Any:
        """``(n, 3, H, W)`` normalised batch on ``device`` (cast to ``dtype`` if given)."""
        import torch

        device = torch.device(device)
        arrays = list(arrays)
        if not arrays:
            raise EmbeddingError("to_batch() got no images")
        shape = arrays[0].shape
        for i, arr in enumerate(arrays):
            if arr.shape != shape or arr.dtype != np.uint8:
                raise EmbeddingError(
                    f"image {i}: prepared array {arr.dtype}{arr.shape} differs from uint8{shape}"
                )
        pin = device.type == "cuda"
        host = torch.empty((len(arrays), *shape), dtype=torch.uint8, pin_memory=pin)
        np.stack(arrays, out=host.numpy())
        batch = host.to(device, non_blocking=pin).permute(0, 3, 1, 2).contiguous()
        if device not in self._stats:
            self._stats[device] = (
                torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1),
                torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1),
            )
        mean, std = self._stats[device]
        out = batch.to(torch.float32).div_(255).sub_(mean).div_(std)
        return out if dtype is None or dtype == torch.float32 else out.to(dtype)


class OpenClipEmbedder:
    """Image and text embeddings from an :class:`~imitation_kedro.models.open_clip_bundle.OpenClipBundle`.

    ``batch_size`` images go through the model at a time; ``num_workers`` > 0 preprocesses the
    next batch in threads while the model runs (decoding/resizing overlap). ``device`` defaults to
    the model's device.
    """

    def __init__(
        self, bundle: Any, batch_size: int = 64, device: str | None = None, num_workers: int = 0
    ):
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.bundle = bundle
        self.model = bundle.model.eval()
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.device = torch.device(device) if device else next(self.model.parameters()).device
        self.model.to(self.device)
        self.dtype = next(self.model.parameters()).dtype
        visual = getattr(self.model, "visual", None)
        dim = getattr(visual, "output_dim", None)
        if dim is None:  # towers without output_dim: ask the model once
            dim = int(self.embed_tensor(self.preprocess([_blank()])).shape[1])
        self.dim = int(dim)

    def preprocess(self, images: Sequence[Image.Image], offset: int = 0) -> Any:
        """PIL images -> the model's input batch (RGB-converted, resized, normalised)."""
        import torch
        from PIL import Image as PILImage

        tensors = []
        for i, image in enumerate(images):
            if not isinstance(image, PILImage.Image):
                raise EmbeddingError(
                    f"image {offset + i} is a {type(image).__name__}, not a PIL image"
                )
            if image.width == 0 or image.height == 0:
                raise EmbeddingError(f"image {offset + i} is empty ({image.width}x{image.height})")
            tensors.append(self.bundle.preprocess(to_rgb(image)))
        return torch.stack(tensors)

    def embed_tensor(self, batch: Any) -> np.ndarray:
        """The bare model forward on a preprocessed batch -> normalised float32 rows."""
        import torch

        with torch.inference_mode():
            feats = self.model.encode_image(batch.to(self.device, self.dtype), normalize=True)
        return feats.float().cpu().numpy()

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        """``(len(images), dim)`` float32, L2-normalised; raises on an empty list or NaN output."""
        images = list(images)
        if not images:
            raise EmbeddingError("embed() got an empty list of images: nothing to embed")
        starts = list(range(0, len(images), self.batch_size))
        chunks = [(s, images[s : s + self.batch_size]) for s in starts]
        out = np.empty((len(images), self.dim), dtype=np.float32)
        if self.num_workers > 0:
            with ThreadPoolExecutor(self.num_workers) as pool:
                batches = pool.map(lambda c: (c[0], self.preprocess(c[1], c[0])), chunks)
                self._run(batches, out, len(chunks))
        else:
            self._run(((s, self.preprocess(c, s)) for s, c in chunks), out, len(chunks))
        return out

    def _run(self, batches: Any, out: np.ndarray, total: int) -> None:
        for start, batch in progress(batches, desc="embed images", total=total, unit="batch"):
            emb = check_embeddings(self.embed_tensor(batch), offset=start)
            out[start : start + len(emb)] = emb

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised text embeddings."""
        import torch

        texts = [str(t) for t in texts]
        if not texts:
            raise EmbeddingError("embed_text() got an empty list of texts")
        rows = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.bundle.tokenizer(texts[start : start + self.batch_size]).to(self.device)
            with torch.inference_mode():
                feats = self.model.encode_text(tokens, normalize=True)
            rows.append(check_embeddings(feats.float().cpu().numpy(), offset=start, what="text"))
        return np.concatenate(rows).astype(np.float32, copy=False)


def _blank() -> Image.Image:
    from PIL import Image as PILImage

    return PILImage.new("RGB", (32, 32))
