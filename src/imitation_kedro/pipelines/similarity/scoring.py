"""Imitation scores (FIT reference section 5).

Per (concept, model, prompt): ``S = R @ G.T`` over L2-normalised reference and generated
embeddings; the ``top_k_refs`` references with the highest mean similarity to the prompt's
generated set are kept (ties broken by image id); an image's score is its mean cosine to those
references; the prompt's score is the mean over images and ``score_var`` their sample variance
(ddof=1; 0 for a single image). A concept's score is the mean over its prompts.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.imitation_score import prompt_score, select_references  # noqa: F401

from .params import SimilarityParams
from .references import reject

logger = logging.getLogger(__name__)

SCORE_COLUMNS = [
    "concept", "domain", "model", "prompt_id", "score", "score_var", "n_generated", "n_used",
    "n_refs", "ref_source", "zero_face_rate",
]
IMAGE_SCORE_COLUMNS = ["concept", "domain", "model", "prompt_id", "image_id", "score"]
SELECTED_COLUMNS = ["concept", "model", "prompt_id", "rank", "image_id", "mean_similarity"]


def _vectors(keys: list[str], table: dict[str, Any]) -> np.ndarray:
    return np.stack([table["vectors"][k] for k in keys]).astype(np.float32, copy=False)


def _usable(frame: pd.DataFrame, table: dict[str, Any], face: bool) -> tuple[pd.DataFrame, pd.Series]:
    """Rows with a vector (and exactly one face for face embedders) and every row's face count."""
    n_faces = frame["image_key"].map(lambda k: table["n_faces"].get(k, -1))
    has_vec = frame["image_key"].map(lambda k: k in table["vectors"])
    keep = has_vec & ((n_faces == 1) if face else True)
    return frame[keep], n_faces


def _face_rejects(frame: pd.DataFrame, n_faces: pd.Series, role: str) -> list[dict[str, Any]]:
    out = []
    for (_, row), count in zip(frame.iterrows(), n_faces, strict=True):
        if count >= 0 and count != 1:
            out.append(
                reject("image", row["concept"], f"{count} faces detected (exactly one needed)",
                       domain=row["domain"], model=row["model"] or None,
                       prompt_id=int(row["prompt_id"]) if row["prompt_id"] >= 0 else None,
                       image_id=row["image_id"], role=role)
            )
    return out


def _switch_after_filter(
    refs: pd.DataFrame, table: dict[str, Any], face: bool, min_laion: int, concept: str
) -> pd.DataFrame:
    """Faces (FIT §5.1): LAION references when >= ``min_laion`` of them have exactly one face,
    else the gold (curated) ones; planning lists both for a face domain."""
    if not face or refs["ref_source"].nunique() < 2:
        return refs
    laion = refs[refs["ref_source"] == "laion"]
    usable, _ = _usable(laion, table, face)
    if len(usable) >= min_laion:
        return laion
    logger.info(
        "similarity: %r has %d usable LAION faces (< min_laion_refs %d after the one-face "
        "filter): gold references used", concept, len(usable), min_laion,
    )
    return refs[refs["ref_source"] == "curated"]


def score_concept(
    concept: str,
    items: pd.DataFrame,
    table: dict[str, Any],
    params: SimilarityParams,
    face: bool,
) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """Score rows, per-image rows, selected-reference rows and rejects for one concept."""
    domain = items["domain"].iloc[0]
    settings = params.domain(domain, concept)
    refs_all = items[items["role"] == "reference"]
    gens_all = items[items["role"] == "generated"]
    refs_all = _switch_after_filter(refs_all, table, face, settings.min_laion_refs, concept)
    refs, ref_faces = _usable(refs_all, table, face)
    rejects = _face_rejects(refs_all, ref_faces, "reference") if face else []
    if len(refs) < settings.min_refs:
        source = refs_all["ref_source"].iloc[0] if len(refs_all) else "none"
        rejects.append(
            reject("concept", concept, f"too few usable references: {len(refs)} {source} < min_refs "
                   f"{settings.min_refs} ({len(refs_all)} before face/decode filtering)", domain=domain)
        )
        logger.warning("similarity: skipping concept %r: %s", concept, rejects[-1]["reason"])
        return [], [], [], rejects
    ref_ids = refs["image_id"].tolist()
    ref_vecs = _vectors(refs["image_key"].tolist(), table)
    ref_source = str(refs["ref_source"].iloc[0])
    scores, images, selected = [], [], []
    for (model, prompt_id), group in gens_all.groupby(["model", "prompt_id"], sort=True):
        used, faces = _usable(group, table, face)
        if face:
            rejects.extend(_face_rejects(group, faces, "generated"))
        detected = int((faces >= 0).sum())
        zero_rate = float((faces == 0).sum() / detected) if face and detected else float("nan")
        base = {"concept": concept, "domain": domain, "model": model, "prompt_id": int(prompt_id),
                "n_generated": len(group), "n_used": len(used), "ref_source": ref_source,
                "zero_face_rate": zero_rate}
        if used.empty:
            what = f"no usable generated images ({len(group)} listed, {int((faces == 0).sum())} without a face)"
            if params.empty_score is None:
                rejects.append(reject("prompt", concept, f"{what}; left out (empty_score is null)",
                                      domain=domain, model=model, prompt_id=int(prompt_id)))
            else:
                rejects.append(reject("prompt", concept, f"{what}; scored empty_score={params.empty_score}",
                                      domain=domain, model=model, prompt_id=int(prompt_id)))
                scores.append({**base, "score": params.empty_score, "score_var": 0.0, "n_refs": 0})
            logger.warning("similarity: %r model %s prompt %s: %s", concept, model, prompt_id, rejects[-1]["reason"])
            continue
        chosen, ref_means, per_image = prompt_score(
            ref_vecs, _vectors(used["image_key"].tolist(), table), ref_ids, params.top_k_refs
        )
        var = float(per_image.var(ddof=1)) if len(per_image) > 1 else 0.0
        scores.append({**base, "score": float(per_image.mean()), "score_var": var, "n_refs": len(chosen)})
        images.extend(
            {"concept": concept, "domain": domain, "model": model, "prompt_id": int(prompt_id),
             "image_id": iid, "score": float(s)}
            for iid, s in zip(used["image_id"], per_image, strict=True)
        )
        selected.extend(
            {"concept": concept, "model": model, "prompt_id": int(prompt_id), "rank": rank,
             "image_id": ref_ids[i], "mean_similarity": float(m)}
            for rank, (i, m) in enumerate(zip(chosen, ref_means, strict=True))
        )
    return scores, images, selected, rejects


def aggregate_prompts(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (concept, concept_set, domain, model): mean score over prompts and its variance
    (ddof=1)."""
    keys = ["concept", "concept_set", "domain", "model"]
    if "concept_set" not in scores.columns:
        scores = scores.assign(concept_set=scores["domain"])
    if scores.empty:
        return pd.DataFrame(columns=[*keys, "score", "score_var_prompts",
                                     "n_prompts", "n_generated", "n_used", "n_refs", "ref_source",
                                     "zero_face_rate"])
    grouped = scores.groupby(keys, sort=True)
    out = grouped.agg(
        score=("score", "mean"),
        score_var_prompts=("score", lambda s: float(s.var(ddof=1)) if len(s) > 1 else 0.0),
        n_prompts=("prompt_id", "nunique"),
        n_generated=("n_generated", "sum"),
        n_used=("n_used", "sum"),
        n_refs=("n_refs", "max"),
        ref_source=("ref_source", "first"),
        zero_face_rate=("zero_face_rate", "mean"),
    )
    return out.reset_index()
