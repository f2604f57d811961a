"""Build an ``ImageEmbedder`` from the similarity parameters (one domain's ``embedder`` block).

Kinds: ``miniature_clip`` (the world's open_clip bundle, passed in), ``open_clip`` (architecture +
pretrained tag or local checkpoint), ``csd`` (local checkpoint), ``arcface_onnx`` (local ONNX file +
dlib detector), ``dlib`` (``face_recognition``). Every embedder gets a ``name`` used as its cache
key: the configured one, or kind + a fingerprint of the weights, so new weights never reuse old
vectors.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from PIL import Image


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"embedder.device is {device!r} but CUDA is not available")
    return device


def module_fingerprint(module: Any) -> str:
    """sha256 over a torch module's state dict (names, shapes, bytes): 12 hex digits."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        t = tensor.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            t = t.float()
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:12]


class PreparedOpenClip:
    """An :class:`~imitation_kedro.models.embedders.OpenClipEmbedder` split in two steps.

    ``prepare`` (one image -> its preprocessed tensor, thread-safe) runs in the similarity
    pipeline's decode threads; ``embed_prepared`` is the bare model forward on a stacked batch.
    Both go through the embedder's public ``preprocess`` / ``embed_tensor``.
    """

    def __init__(self, inner: Any, name: str) -> None:
        self.inner = inner
        self.dim = int(inner.dim)
        self.batch_size = inner.batch_size
        self.name = name

    def prepare(self, image: Image.Image) -> Any:
        return self.inner.preprocess([image])[0]

    def embed_prepared(self, tensors: list[Any]) -> np.ndarray:
        import torch

        rows = [
            self.inner.embed_tensor(torch.stack(tensors[start : start + self.batch_size]))
            for start in range(0, len(tensors), self.batch_size)
        ]
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(rows).astype(np.float32, copy=False)

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        return self.inner.embed(images)


def _open_clip(bundle: Any, spec: Any, name: str) -> PreparedOpenClip:
    from imitation_kedro.models.embedders import OpenClipEmbedder

    if not hasattr(bundle, "model") or not hasattr(bundle, "preprocess"):
        raise TypeError(
            f"embedder kind {spec.kind!r} expects an OpenClipBundle (mdl_miniature_clip), got "
            f"{type(bundle).__name__}"
        )
    inner = OpenClipEmbedder(bundle, batch_size=spec.batch_size, device=resolve_device(spec.device))
    return PreparedOpenClip(inner, spec.name or f"{name}-{module_fingerprint(bundle.model)}")


def _is_embedder(obj: Any) -> bool:
    return hasattr(obj, "embed") and hasattr(obj, "dim")


def build_embedder(spec: Any, bundle: Any = None) -> Any:
    """An embedder for ``spec`` (``EmbedderParams``); ``bundle`` is ``mdl_miniature_clip``."""
    kind = spec.kind
    if kind == "miniature_clip":
        if _is_embedder(bundle):  # the catalog may already deliver an ImageEmbedder
            if spec.name:
                bundle.name = spec.name
            elif not getattr(bundle, "name", ""):
                bundle.name = f"miniature_clip-{type(bundle).__name__}"
            return bundle
        return _open_clip(bundle, spec, "miniature_clip")
    if kind == "open_clip":
        from imitation_kedro.datasets.open_clip_model import create_bundle

        precision = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}[spec.precision]
        loaded = create_bundle(
            spec.arch, pretrained=spec.pretrained or spec.checkpoint or None, precision=precision,
            device=resolve_device(spec.device),
        )
        return _open_clip(loaded, spec, f"open_clip-{spec.arch}")
    if kind == "csd":
        from imitation_kedro.models.csd import CSDEmbedder, file_fingerprint, load_csd_model

        model = load_csd_model(spec.checkpoint)
        name = spec.name or f"csd-{file_fingerprint(spec.checkpoint)[:12]}"
        return CSDEmbedder(model, spec.batch_size, resolve_device(spec.device), spec.precision, name)
    if kind == "arcface_onnx":
        from imitation_kedro.models.faces import ArcFaceOnnxEmbedder

        return ArcFaceOnnxEmbedder(spec.checkpoint, spec.batch_size, spec.device, spec.upsample, spec.name)
    if kind == "dlib":
        from imitation_kedro.models.faces import DlibFaceEmbedder

        return DlibFaceEmbedder(upsample=spec.upsample, name=spec.name)
    raise ValueError(f"unknown embedder kind {kind!r}")
