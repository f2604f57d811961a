"""Image codec helpers shared by the eager and the streaming path: bytes <-> uint8 arrays/tensors.

No torch at import (tensor helpers import it inside).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image


def decode_image(png: bytes, size: int) -> np.ndarray:
    """PNG/JPEG bytes -> ``size x size x 3`` uint8, squashed (aspect ignored, as in the paper)."""
    with Image.open(io.BytesIO(png)) as img:
        img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8).copy()


def encode_png(array: np.ndarray) -> bytes:
    """Lossless storage of an (already triggered) image, so train and test triggers match (B5)."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def decode_images(pngs: pd.Series, size: int) -> np.ndarray:
    """A column of image bytes -> ``N x size x size x 3`` uint8 (inputs were validated upstream)."""
    if len(pngs) == 0:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack([decode_image(b, size) for b in pngs])


def square_side(png: bytes) -> int:
    """The side of a square image, -1 when it is not square or not an image."""
    try:
        with Image.open(io.BytesIO(png)) as img:
            return img.size[0] if img.size[0] == img.size[1] else -1
    except Exception:  # noqa: BLE001
        return -1


def images_to_tensor(images: np.ndarray) -> Any:
    """``N x H x W x 3`` uint8 -> ``N x 3 x H x W`` uint8 tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def image_to_tensor(img: np.ndarray) -> Any:
    """``H x W x 3`` uint8 -> ``3 x H x W`` uint8 tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
