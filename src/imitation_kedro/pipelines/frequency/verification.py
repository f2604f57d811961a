"""Do the downloaded images really show the concept? Per-domain verifiers over embedder adapters.

* ``references`` (miniature): image embedding; an image counts when its max cosine to the
  concept's reference embeddings is > the threshold (the same rule FIT uses for faces).
* ``faces`` (FIT §3.3): every face of the image is embedded; the image counts when any face's max
  cosine to the concept's reference faces is > the threshold.
* ``art`` (FIT §3.4): an "is artwork" gate (cosine to the CLIP text embedding of
  ``artwork_label`` > ``artwork_threshold``), then style similarity (max cosine to the artist's
  references) > the threshold.

Embedders follow ``imitation_kedro.models.embedders.ImageEmbedder``: ``embed(list[PIL]) ->``
float32 L2-normalised rows, attribute ``dim``; ``embed_text`` for the artwork gate.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.core.progress import progress

SCORE_COLUMNS = ["concept", "domain", "key", "score", "gate_score", "verified"]


class VerificationError(ValueError):
    """A concept or domain cannot be verified (names it)."""


class ImageEmbedder(Protocol):
    dim: int

    def embed(self, images: list[Image.Image]) -> np.ndarray: ...


def as_image_embedder(model: Any, batch_size: int) -> Any:
    """An ImageEmbedder from an embedder or an ``OpenClipBundle`` (``mdl_miniature_clip``)."""
    if hasattr(model, "embed") and hasattr(model, "dim"):
        return model
    from imitation_kedro.models.embedders import OpenClipEmbedder

    return OpenClipEmbedder(model, batch_size=batch_size)


def open_clip_embedder(spec: str, batch_size: int) -> Any:
    """An OpenClipEmbedder for ``hf-hub:<repo>`` or ``<arch>:<pretrained>`` (open_clip names)."""
    from types import SimpleNamespace

    import open_clip

    from imitation_kedro.models.embedders import OpenClipEmbedder

    if spec.startswith("hf-hub:"):
        model, preprocess = open_clip.create_model_from_pretrained(spec)
        tokenizer = open_clip.get_tokenizer(spec)
    else:
        arch, _, pretrained = spec.partition(":")
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=pretrained or None
        )
        tokenizer = open_clip.get_tokenizer(arch)
    bundle = SimpleNamespace(model=model, preprocess=preprocess, tokenizer=tokenizer)
    return OpenClipEmbedder(bundle, batch_size=batch_size)


def face_embedder(path: str | None, batch_size: int, detector: Any = None) -> Any:
    """The paper's face recogniser (ArcFace ONNX + detector) from ``verification.face_model``.

    ``detector``: a ``FaceDetectorParams`` (``verification.face_detector``); None -> dlib.
    """
    if not path:
        raise VerificationError(
            "domain method 'faces' needs verification.face_model (an ONNX file)"
        )
    from imitation_kedro.models.faces import ArcFaceOnnxEmbedder

    if detector is None:
        return ArcFaceOnnxEmbedder(path, batch_size=batch_size)
    from pathlib import Path

    from imitation_kedro.models.embedder_factory import build_face_detector

    if not Path(path).is_file():
        raise FileNotFoundError(
            f"ArcFace ONNX model {path!r} does not exist (verification.face_model)"
        )
    built = build_face_detector(detector, where="verification.face_detector")
    return ArcFaceOnnxEmbedder(path, batch_size=batch_size, detector=built)


def style_embedder(path: str | None, fallback: Any, batch_size: int) -> Any:
    """CSD from ``verification.style_model``; without one, the image embedder itself."""
    if not path:
        return fallback
    from imitation_kedro.models.csd import CSDEmbedder, load_csd_model

    return CSDEmbedder(load_csd_model(path), batch_size=batch_size)


def decode(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(bytes(png))) as img:
        return img.convert("RGB")


def embed_pngs(embedder: Any, pngs: list[bytes], batch_size: int, desc: str) -> np.ndarray:
    """Embed PNG bytes in batches (decoded per batch: bounded memory)."""
    out = []
    starts = range(0, len(pngs), batch_size)
    for lo in progress(starts, desc=desc, total=len(starts), unit="batch"):
        out.append(np.asarray(embedder.embed([decode(p) for p in pngs[lo : lo + batch_size]])))
    if not out:
        return np.zeros((0, int(getattr(embedder, "dim", 0))), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def embed_faces(embedder: Any, images: list[Image.Image]) -> list[np.ndarray]:
    """Per image, the embeddings of every detected face (``(n_faces, dim)``; 0 rows: no face)."""
    if hasattr(embedder, "embed_faces"):
        return list(embedder.embed_faces(images))
    from imitation_kedro.models.faces import PreparedFace, align_face, to_uint8_rgb

    out = []
    for image in images:
        rgb = to_uint8_rgb(image)
        crops = [
            PreparedFace(
                1, align_face(image, embedder.detector.five_points(rgb, loc), embedder.size)
            )
            for loc in embedder.detector.locate(rgb)
        ]
        out.append(
            embedder.embed_prepared(crops) if crops else np.zeros((0, embedder.dim), np.float32)
        )
    return out


def reference_embeddings(
    references: pd.DataFrame, concepts: list[str], embedder: Any, batch_size: int, min_refs: int
) -> dict[str, np.ndarray]:
    """Embeddings of each concept's reference images; too few references is an error naming them."""
    counts = references.groupby("concept").size() if len(references) else pd.Series(dtype=int)
    short = {c: int(counts.get(c, 0)) for c in concepts if int(counts.get(c, 0)) < min_refs}
    if short:
        raise VerificationError(
            f"concept(s) with fewer than {min_refs} reference image(s): {short} "
            "(raw_reference_images); verification cannot check their images"
        )
    sub = references[references["concept"].isin(concepts)].sort_values(["concept", "ref_index"])
    emb = embed_pngs(embedder, sub["png"].tolist(), batch_size, "reference embeddings")
    labels = sub["concept"].to_numpy()
    return {c: emb[labels == c] for c in concepts}


def max_cosine(images: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Per image row, the max cosine to any reference row (-1 when there are no references)."""
    if images.shape[0] == 0:
        return np.zeros(0, np.float64)
    if refs.shape[0] == 0:
        return np.full(images.shape[0], -1.0)
    return (images.astype(np.float64) @ refs.astype(np.float64).T).max(axis=1)


def score_domain(
    domain: str,
    method: str,
    pairs: pd.DataFrame,
    images: pd.DataFrame,
    refs: dict[str, np.ndarray],
    embedder: Any,
    threshold: float,
    batch_size: int,
    gate: tuple[np.ndarray, float] | None = None,
    gate_embedder: Any = None,
) -> pd.DataFrame:
    """Score every (concept, key) of ``pairs`` whose image is in ``images`` (key, png)."""
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORE_COLUMNS})
    keys = sorted(set(pairs["key"]))
    png = images.set_index("key").loc[keys, "png"].tolist()
    key_pos = {k: i for i, k in enumerate(keys)}
    gate_scores = np.full(len(keys), np.nan)
    if method == "faces":
        faces: list[np.ndarray] = []
        for lo in progress(range(0, len(png), batch_size), desc=f"faces {domain}", unit="batch"):
            faces += embed_faces(embedder, [decode(p) for p in png[lo : lo + batch_size]])
    else:
        emb = embed_pngs(embedder, png, batch_size, f"embed {domain}")
        if gate is not None:
            text_emb, _ = gate
            clip_emb = (
                emb
                if gate_embedder is embedder
                else embed_pngs(gate_embedder, png, batch_size, "artwork gate")
            )
            gate_scores = clip_emb.astype(np.float64) @ text_emb.astype(np.float64)
    rows = []
    for concept, grp in pairs.groupby("concept", sort=True):
        idx = np.asarray([key_pos[k] for k in grp["key"]], dtype=np.int64)
        ref = refs[concept]
        if method == "faces":
            score = np.asarray([max_cosine(faces[i], ref).max(initial=-1.0) for i in idx])
        else:
            score = max_cosine(emb[idx], ref)
        ok = score > threshold
        g = gate_scores[idx]
        if gate is not None:
            ok &= g > gate[1]
        rows.append(
            pd.DataFrame(
                {
                    "concept": concept,
                    "domain": domain,
                    "key": grp["key"].to_numpy(),
                    "score": score,
                    "gate_score": g,
                    "verified": ok,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[SCORE_COLUMNS]
