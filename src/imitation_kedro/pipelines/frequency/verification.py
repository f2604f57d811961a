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
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.core.progress import progress
from imitation_kedro.models import embedder_factory
from imitation_kedro.pipelines.frequency.params import VerificationParams

SCORE_COLUMNS = ["concept", "domain", "key", "score", "gate_score", "verified"]


class VerificationError(ValueError):
    """A concept or domain cannot be verified (names it)."""


def face_embedder(path: str | None, batch_size: int, detector: Any = None) -> Any:
    """The paper's face recogniser (ArcFace ONNX + detector) from ``verification.face_model``.

    ``detector``: a ``FaceDetectorParams`` (``verification.face_detector``); None -> dlib.
    """
    if not path:
        raise VerificationError(
            "domain method 'faces' needs verification.face_model (an ONNX file)"
        )
    return embedder_factory.face_recogniser(
        path,
        batch_size,
        detector,
        keys=("verification.face_model", "verification.face_detector"),
    )


def domain_plan(concepts: pd.DataFrame, vp: VerificationParams) -> dict[str, list[str]]:
    """The concepts of each domain (sorted); a domain without verification settings is an error."""
    plan = {d: sorted(g["concept"]) for d, g in concepts.groupby("domain")}
    unknown = sorted(set(plan) - set(vp.domains))
    if unknown:
        raise VerificationError(
            f"concept domain(s) {unknown} have no entry in frequency.verification.domains "
            f"(configured: {sorted(vp.domains)})"
        )
    return plan


class DomainEmbedders:
    """The embedders of each domain method, built once per node call and only when needed.

    The CLIP embedder (``verification.clip_model`` if set, else the ``mdl_miniature_clip`` input)
    serves the ``references`` method and the ``art`` method's artwork gate (and its style
    embedding when there is no ``style_model``).
    """

    def __init__(self, clip_model: Any, vp: VerificationParams) -> None:
        self.clip_model = clip_model
        self.vp = vp
        self._clip: Any = None

    def clip(self) -> Any:
        if self._clip is None:
            self._clip = embedder_factory.clip_embedder(
                self.vp.clip_model or self.clip_model, self.vp.batch_size
            )
        return self._clip

    def for_method(self, method: str) -> tuple[Any, Any]:
        """(embedder for references and images, CLIP embedder of the artwork gate or None)."""
        vp = self.vp
        if method == "faces":
            return face_embedder(vp.face_model, vp.batch_size, vp.face_detector), None
        if method == "art":
            style = (
                embedder_factory.csd_embedder(vp.style_model, vp.batch_size, name="csd")
                if vp.style_model
                else self.clip()
            )
            return style, self.clip()
        return self.clip(), None


def domain_references(
    references: pd.DataFrame, concepts: pd.DataFrame, clip_model: Any, vp: VerificationParams
) -> dict[str, tuple[Any, Any, Any, dict[str, np.ndarray]]]:
    """Per domain: (its settings, embedder, gate embedder, reference embeddings per concept)."""
    out = {}
    embedders = DomainEmbedders(clip_model, vp)
    for domain, names in domain_plan(concepts, vp).items():
        spec = vp.domains[domain]
        emb, gate = embedders.for_method(spec.method)
        refs = reference_embeddings(references, names, emb, vp.batch_size, vp.min_references)
        out[domain] = (spec, emb, gate, refs)
    return out


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
