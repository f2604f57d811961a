"""Do the downloaded images really show the concept? Per-set verifiers over embedder adapters.

Each concept set (``concept_set`` of raw_concepts; the domain when absent) is verified with its
own settings (``verification.sets``, else its domain's entry) and its own calibration.

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
import logging
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.core.concept_sets import concept_sets
from imitation_kedro.core.progress import progress
from imitation_kedro.models import embedder_factory
from imitation_kedro.pipelines.frequency.params import VerificationParams

logger = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "concept", "concept_set", "domain", "key", "score", "gate_score", "verified", "matched_faces",
]
REFERENCE_REJECT_COLUMNS = ["concept", "concept_set", "ref_index", "reason"]


class VerificationError(ValueError):
    """A concept or domain cannot be verified (names it)."""


def face_embedder(
    path: str | None, batch_size: int, detector: Any = None, device: str = "cpu"
) -> Any:
    """The paper's face recogniser (ArcFace ONNX + detector) from ``verification.face_model``.

    ``detector``: a ``FaceDetectorParams`` (``verification.face_detector``); None -> dlib.
    ``device``: where both ONNX sessions run (cuda: CUDAExecutionProvider).
    """
    if not path:
        raise VerificationError(
            "domain method 'faces' needs verification.face_model (an ONNX file)"
        )
    return embedder_factory.face_recogniser(
        path,
        batch_size,
        detector,
        device=device,
        keys=("verification.face_model", "verification.face_detector"),
    )


def set_plan(concepts: pd.DataFrame, vp: VerificationParams) -> dict[str, tuple[str, list[str]]]:
    """Per concept set: (its domain, its concepts sorted); a set without settings is an error."""
    sets = concept_sets(concepts)
    plan = {}
    for name, g in concepts.assign(concept_set=sets.to_numpy()).groupby("concept_set"):
        plan[str(name)] = (str(g["domain"].iloc[0]), sorted(g["concept"]))
    unknown = sorted(
        {d for s, (d, _) in plan.items() if s not in vp.sets and d not in vp.domains}
    )
    if unknown:
        raise VerificationError(
            f"concept domain(s) {unknown} have no entry in frequency.verification.domains "
            f"(configured: {sorted(vp.domains)}; per set: {sorted(vp.sets)})"
        )
    return plan


def set_settings(vp: VerificationParams, concept_set: str, domain: str) -> Any:
    """The set's own entry in ``verification.sets``, else its domain's entry."""
    return vp.sets.get(concept_set) or vp.domains[domain]


class DomainEmbedders:
    """The embedders of each method, built once per node call and only when needed.

    The CLIP embedder (``verification.clip_model`` if set, else the ``mdl_miniature_clip`` input)
    serves the ``references`` method and the ``art`` method's artwork gate (and its style
    embedding when there is no ``style_model``). All run on ``verification.device``.
    """

    def __init__(self, clip_model: Any, vp: VerificationParams) -> None:
        self.clip_model = clip_model
        self.vp = vp
        self._built: dict[str, Any] = {}

    def _once(self, key: str, build: Any) -> Any:
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def clip(self) -> Any:
        vp = self.vp
        return self._once(
            "clip",
            lambda: embedder_factory.clip_embedder(
                vp.clip_model or self.clip_model, vp.batch_size, vp.device, "verification.device"
            ),
        )

    def for_method(self, method: str) -> tuple[Any, Any]:
        """(embedder for references and images, CLIP embedder of the artwork gate or None)."""
        vp = self.vp
        if method == "faces":
            face = self._once(
                "faces",
                lambda: face_embedder(vp.face_model, vp.batch_size, vp.face_detector, vp.device),
            )
            return face, None
        if method == "art":
            precision = "fp16" if vp.fp16_autocast else "fp32"
            style = (
                self._once(
                    "csd",
                    lambda: embedder_factory.csd_embedder(
                        vp.style_model, vp.batch_size, vp.device, precision, name="csd"
                    ),
                )
                if vp.style_model
                else self.clip()
            )
            return style, self.clip()
        return self.clip(), None


def domain_references(
    references: pd.DataFrame, concepts: pd.DataFrame, clip_model: Any, vp: VerificationParams
) -> tuple[dict[str, tuple[Any, Any, Any, dict[str, np.ndarray], str]], pd.DataFrame]:
    """Per concept set: (settings, embedder, gate embedder, reference embeddings per concept,
    domain), and the rejected reference images (faces: no face or several faces)."""
    out, rejects = {}, []
    embedders = DomainEmbedders(clip_model, vp)
    for cset, (domain, names) in set_plan(concepts, vp).items():
        spec = set_settings(vp, cset, domain)
        emb, gate = embedders.for_method(spec.method)
        refs, bad = reference_embeddings(
            references, names, emb, vp, faces=spec.method == "faces", concept_set=cset
        )
        rejects.append(bad)
        out[cset] = (spec, emb, gate, refs, domain)
    table = pd.concat(rejects, ignore_index=True) if rejects else _reference_rejects([])
    return out, table


def _reference_rejects(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=REFERENCE_REJECT_COLUMNS)
    return frame.astype({"ref_index": "int64"})


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
    return faces_and_boxes(embedder, images)[0]


def faces_and_boxes(
    embedder: Any, images: list[Image.Image]
) -> tuple[list[np.ndarray], list[list[tuple[int, int, int, int]]]]:
    """Per image, every face's embedding and box ``(left, top, right, bottom)`` (an embedder
    with its own ``embed_faces`` gives no boxes: the whole image stands for each face)."""
    if hasattr(embedder, "embed_faces"):
        embs = list(embedder.embed_faces(images))
        boxes = [[(0, 0, im.width, im.height)] * len(e) for im, e in zip(images, embs, strict=True)]
        return embs, boxes
    from imitation_kedro.models.faces import PreparedFace, align_face, to_uint8_rgb

    out, boxes = [], []
    for image in images:
        rgb = to_uint8_rgb(image)
        locations = embedder.detector.locate(rgb)
        crops = [
            PreparedFace(
                1, align_face(image, embedder.detector.five_points(rgb, loc), embedder.size)
            )
            for loc in locations
        ]
        out.append(
            embedder.embed_prepared(crops) if crops else np.zeros((0, embedder.dim), np.float32)
        )
        tops = [getattr(loc, "location", loc) for loc in locations]  # (top, right, bottom, left)
        boxes.append([(int(lf), int(t), int(r), int(b)) for t, r, b, lf in tops])
    return out, boxes


def reference_embeddings(  # noqa: PLR0913
    references: pd.DataFrame,
    concepts: list[str],
    embedder: Any,
    vp: VerificationParams,
    faces: bool = False,
    concept_set: str = "",
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Embeddings of each concept's reference images, and the rejected references.

    Faces: a gold reference must show exactly one face; one with none or several is a logged,
    counted reject (``bad_references: reject``) or an error (``error``). Fewer than
    ``min_references`` usable references is an error naming the concepts.
    """
    sub = references[references["concept"].isin(concepts)].sort_values(["concept", "ref_index"])
    pngs = sub["png"].tolist()
    if faces:
        per_image = []
        for lo in progress(range(0, len(pngs), vp.batch_size), desc="reference faces"):
            per_image += embed_faces(embedder, [decode(p) for p in pngs[lo : lo + vp.batch_size]])
        n_faces = np.asarray([f.shape[0] for f in per_image], dtype=np.int64)
        keep = n_faces == 1
        dim = int(getattr(embedder, "dim", 0))
        emb = np.stack([f[0] for f, k in zip(per_image, keep, strict=True) if k]) if keep.any() \
            else np.zeros((0, dim), np.float32)
        rows = [
            (c, concept_set, int(i), "no face" if n == 0 else f"{n} faces")
            for c, i, n in zip(sub["concept"], sub["ref_index"], n_faces, strict=True)
            if n != 1
        ]
        if rows and vp.bad_references == "error":
            raise VerificationError(
                f"gold reference(s) without exactly one face: {rows[:10]} (raw_reference_images); "
                "set frequency.verification.bad_references: reject to skip them"
            )
        if rows:
            logger.warning(
                "set %r: %d reference image(s) rejected (no face or several faces): %s",
                concept_set, len(rows), rows[:10],
            )
        labels = sub["concept"].to_numpy()[keep]
        bad = _reference_rejects(rows)
    else:
        emb = embed_pngs(embedder, pngs, vp.batch_size, "reference embeddings")
        labels = sub["concept"].to_numpy()
        bad = _reference_rejects([])
    usable = pd.Series(labels).value_counts()
    short = {c: int(usable.get(c, 0)) for c in concepts if int(usable.get(c, 0)) < vp.min_references}
    if short:
        rejected = bad.groupby("concept").size().to_dict() if len(bad) else {}
        raise VerificationError(
            f"concept(s) with fewer than {vp.min_references} usable reference image(s): {short}"
            + (f" after rejecting {rejected} without exactly one face" if rejected else "")
            + " (raw_reference_images); add references or lower "
            "frequency.verification.min_references"
        )
    return {c: emb[labels == c] for c in concepts}, bad


def max_cosine(images: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Per image row, the max cosine to any reference row (-1 when there are no references)."""
    if images.shape[0] == 0:
        return np.zeros(0, np.float64)
    if refs.shape[0] == 0:
        return np.full(images.shape[0], -1.0)
    return (images.astype(np.float64) @ refs.astype(np.float64).T).max(axis=1)


def score_domain(  # noqa: PLR0913
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
    concept_set: str = "",
) -> pd.DataFrame:
    """Score every (concept, key) of ``pairs`` whose image is in ``images`` (key, png).

    ``matched_faces``: faces of the image above the threshold (faces method; FIT §3.3 counts
    these units), else 1 for a verified image and 0 otherwise.
    """
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*SCORE_COLUMNS, "boxes"]})
    keys = sorted(set(pairs["key"]))
    png = images.set_index("key").loc[keys, "png"].tolist()
    key_pos = {k: i for i, k in enumerate(keys)}
    gate_scores = np.full(len(keys), np.nan)
    if method == "faces":
        faces: list[np.ndarray] = []
        boxes: list[list[tuple[int, int, int, int]]] = []
        for lo in progress(range(0, len(png), batch_size), desc=f"faces {domain}", unit="batch"):
            f, b = faces_and_boxes(embedder, [decode(p) for p in png[lo : lo + batch_size]])
            faces += f
            boxes += b
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
            per_face = [max_cosine(faces[i], ref) for i in idx]
            score = np.asarray([f.max(initial=-1.0) for f in per_face])
            matched = np.asarray([int((f > threshold).sum()) for f in per_face], dtype=np.int64)
            hit_boxes = [
                [bx for bx, m in zip(boxes[i], f > threshold, strict=True) if m]
                for i, f in zip(idx, per_face, strict=True)
            ]
        else:
            score = max_cosine(emb[idx], ref)
        ok = score > threshold
        g = gate_scores[idx]
        if gate is not None:
            ok &= g > gate[1]
        if method != "faces":
            matched = ok.astype(np.int64)
            hit_boxes = [None] * len(idx)
        rows.append(
            pd.DataFrame(
                {
                    "concept": concept,
                    "concept_set": concept_set or domain,
                    "domain": domain,
                    "key": grp["key"].to_numpy(),
                    "score": score,
                    "gate_score": g,
                    "verified": ok,
                    "matched_faces": matched,
                    "boxes": hit_boxes,  # not saved: the verified images' face crops
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[[*SCORE_COLUMNS, "boxes"]]
