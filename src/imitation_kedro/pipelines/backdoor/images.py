"""Image codec helpers shared by the eager and the streaming path: bytes <-> uint8 arrays/tensors.

No torch at import (tensor helpers import it inside).
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
import pandas as pd
from PIL import Image

Geometry = Literal["crop", "squash"]


def fit_image(img: Image.Image, size: int, geometry: Geometry) -> Image.Image:
    """The paper's geometry per image kind (reference s5): ``crop`` = CLIP's preprocessing,
    ``Resize(size, bicubic)`` of the shorter side then ``CenterCrop(size)`` (clean and ImageNet
    images); ``squash`` = resized to ``size x size``, aspect ignored (triggered images)."""
    w, h = img.size
    if (w, h) == (size, size):
        return img
    if geometry == "squash":
        return img.resize((size, size), Image.Resampling.BICUBIC)
    # torchvision Resize(int) / CenterCrop arithmetic on PIL images
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def decode_image(png: bytes, size: int, geometry: Geometry = "crop") -> np.ndarray:
    """PNG/JPEG bytes -> ``size x size x 3`` uint8 in the given geometry (:func:`fit_image`)."""
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(fit_image(img.convert("RGB"), size, geometry), dtype=np.uint8).copy()


def encode_png(array: np.ndarray) -> bytes:
    """Lossless storage of an (already triggered) image, so train and test triggers match (B5)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def decode_images(pngs: pd.Series, size: int, geometry: Geometry = "crop") -> np.ndarray:
    """A column of image bytes -> ``N x size x size x 3`` uint8 (inputs were validated upstream)."""
    if len(pngs) == 0:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack([decode_image(b, size, geometry) for b in pngs])


def images_to_tensor(images: np.ndarray) -> Any:
    """``N x H x W x 3`` uint8 -> ``N x 3 x H x W`` uint8 tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def image_to_tensor(img: np.ndarray) -> Any:
    """``H x W x 3`` uint8 -> ``3 x H x W`` uint8 tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
