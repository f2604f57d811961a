"""The one embedder factory: every image embedder of the project is built here.

:func:`build_embedder` builds one from a spec (the similarity pipeline's ``EmbedderParams``; any
object with the same attributes). Kinds: ``miniature_clip`` (the world's open_clip bundle, passed
in), ``open_clip`` (architecture + pretrained tag or local checkpoint), ``csd`` (local checkpoint),
``arcface_onnx`` (local ONNX file + the ``detector`` block: dlib HOG or InsightFace SCRFD ONNX),
``dlib`` (``face_recognition``). Every embedder it builds gets a ``name`` used as its cache key:
the configured one, or kind + a fingerprint of the weights, so new weights never reuse old vectors.

The same constructors serve callers that hold plain settings instead of a spec (the frequency
pipeline's verification): :func:`clip_embedder` (an embedder, a bundle or an open_clip spec string
``hf-hub:<repo>`` / ``<arch>:<pretrained>``), :func:`face_recogniser` and :func:`csd_embedder`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from PIL import Image

from imitation_kedro.core.devices import resolve_device


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

    ``prepare`` (one image -> the uint8 ``(H, W, 3)`` array after the eval transform's resize and
    crop; thread-safe, no torch op) runs in the similarity pipeline's decode workers;
    ``embed_prepared`` stacks a batch, moves the uint8 bytes to the model's device, does the
    ``ToTensor`` scaling and ``Normalize`` there (:class:`~imitation_kedro.models.embedders.PixelPipeline`,
    the same float32 operations) and runs the bare forward. A transform that is not
    ``[PIL steps..., ToTensor, Normalize]`` falls back to the embedder's own ``preprocess``.
    """

    def __init__(self, inner: Any, name: str) -> None:
        from imitation_kedro.models.embedders import PixelPipeline

        self.inner = inner
        self.dim = int(inner.dim)
        self.batch_size = inner.batch_size
        self.name = name
        self.pixels = PixelPipeline.from_transform(inner.bundle.preprocess)

    def prepare(self, image: Image.Image) -> Any:
        if self.pixels is None:
            return self.inner.preprocess([image])[0]
        return self.pixels(image)

    def to_batch(self, prepared: list[Any]) -> Any:
        """The model's input batch (on its device) for ``prepare`` outputs."""
        import torch

        if self.pixels is None:
            return torch.stack(prepared)
        return self.pixels.to_batch(prepared, self.inner.device, self.inner.dtype)

    def embed_prepared(self, prepared: list[Any]) -> np.ndarray:
        rows = [
            self.inner.embed_tensor(self.to_batch(prepared[start : start + self.batch_size]))
            for start in range(0, len(prepared), self.batch_size)
        ]
        if not rows:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(rows).astype(np.float32, copy=False)

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        return self.inner.embed(images)


def _is_embedder(obj: Any) -> bool:
    return hasattr(obj, "embed") and hasattr(obj, "dim")


def _open_clip(bundle: Any, spec: Any, name: str) -> PreparedOpenClip:
    from imitation_kedro.models.embedders import OpenClipEmbedder

    if not hasattr(bundle, "model") or not hasattr(bundle, "preprocess"):
        raise TypeError(
            f"embedder kind {spec.kind!r} expects an OpenClipBundle (mdl_miniature_clip), got "
            f"{type(bundle).__name__}"
        )
    inner = OpenClipEmbedder(
        bundle, batch_size=spec.batch_size, device=resolve_device(spec.device, "embedder.device")
    )
    return PreparedOpenClip(inner, spec.name or f"{name}-{module_fingerprint(bundle.model)}")


def parse_open_clip_spec(spec: str) -> tuple[str, str | None]:
    """``hf-hub:<repo>`` -> (spec, None); ``<arch>:<pretrained tag or checkpoint>`` -> (arch, tag)."""
    if spec.startswith("hf-hub:"):
        return spec, None
    arch, _, pretrained = spec.partition(":")
    return arch, pretrained or None


def clip_embedder(
    model: Any, batch_size: int, device: str = "cpu", where: str = "embedder.device"
) -> Any:
    """An image + text embedder (``embed``, ``embed_text``) from whatever names a CLIP model.

    ``model``: an embedder (returned as it is), an ``OpenClipBundle`` (``mdl_miniature_clip``,
    kept on its own device) or an open_clip spec string (:func:`parse_open_clip_spec`), loaded on
    ``device`` (``auto``: cuda when present; ``where`` names the parameter in errors).
    """
    from imitation_kedro.models.embedders import OpenClipEmbedder

    if _is_embedder(model):
        return model
    if isinstance(model, str):
        from imitation_kedro.models.open_clip_bundle import create_bundle

        arch, pretrained = parse_open_clip_spec(model)
        model = create_bundle(arch, pretrained=pretrained, device=resolve_device(device, where))
    return OpenClipEmbedder(model, batch_size=batch_size)


def csd_embedder(
    checkpoint: str, batch_size: int, device: str = "cpu", precision: str = "fp32", name: str = ""
) -> Any:
    """The CSD style embedder from a local checkpoint; ``name`` "": csd + the file's fingerprint."""
    from imitation_kedro.models.csd import CSDEmbedder, file_fingerprint, load_csd_model

    model = load_csd_model(checkpoint)
    name = name or f"csd-{file_fingerprint(checkpoint)[:12]}"
    return CSDEmbedder(
        model, batch_size, resolve_device(device, "embedder.device"), precision, name
    )


def face_recogniser(  # noqa: PLR0913
    checkpoint: str,
    batch_size: int,
    detector: Any = None,
    device: str = "cpu",
    upsample: int = 1,
    name: str = "",
    keys: tuple[str, str] = ("embedder.checkpoint", "embedder.detector"),
) -> Any:
    """ArcFace ONNX recogniser behind the face detector of a ``FaceDetectorParams`` block.

    ``detector`` None is dlib's HOG detector. ``keys``: the parameter keys of the ONNX file and of
    the detector block, named in errors.
    """
    from pathlib import Path

    from imitation_kedro.models.face_specs import FaceDetectorParams
    from imitation_kedro.models.faces import ArcFaceOnnxEmbedder

    model_key, detector_key = keys
    if not Path(checkpoint).is_file():  # before loading a detector
        raise FileNotFoundError(f"ArcFace ONNX model {checkpoint!r} does not exist ({model_key})")
    built = build_face_detector(detector or FaceDetectorParams(), device, upsample, detector_key)
    return ArcFaceOnnxEmbedder(checkpoint, batch_size, device, upsample, name, detector=built)


def build_face_detector(
    detector: Any, device: str = "cpu", upsample: int = 1, where: str = "detector"
) -> Any:
    """The face detector for a ``FaceDetectorParams`` block (``where`` names it in errors)."""
    if detector.kind == "scrfd":
        from imitation_kedro.models.scrfd import ScrfdFaceDetector

        return ScrfdFaceDetector(
            detector.path,
            detector.score_threshold,
            detector.nms_threshold,
            detector.input_size,
            device,
            where=f"{where}.path",
        )
    if detector.kind == "dlib":
        from imitation_kedro.models.faces import DlibFaceDetector

        return DlibFaceDetector(upsample)
    raise ValueError(f"unknown face detector kind {detector.kind!r} ({where}.kind)")


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
        from imitation_kedro.models.open_clip_bundle import create_bundle

        precision = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}[spec.precision]
        loaded = create_bundle(
            spec.arch,
            pretrained=spec.pretrained or spec.checkpoint or None,
            precision=precision,
            device=resolve_device(spec.device, "embedder.device"),
        )
        return _open_clip(loaded, spec, f"open_clip-{spec.arch}")
    if kind == "csd":
        return csd_embedder(
            spec.checkpoint, spec.batch_size, spec.device, spec.precision, spec.name
        )
    if kind == "arcface_onnx":
        return face_recogniser(
            spec.checkpoint, spec.batch_size, spec.detector, spec.device, spec.upsample, spec.name
        )
    if kind == "dlib":
        from imitation_kedro.models.faces import DlibFaceEmbedder

        return DlibFaceEmbedder(upsample=spec.upsample, name=spec.name)
    raise ValueError(f"unknown embedder kind {kind!r}")
