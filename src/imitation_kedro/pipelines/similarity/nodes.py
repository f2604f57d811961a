"""Nodes of the ``similarity`` pipeline: plan -> embed (cached) -> score -> aggregate, plus grids.

Heavy libraries (torch, open_clip, onnxruntime, dlib) are imported only inside the embedder
factory when ``embed_similarity_images`` runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd

from imitation_kedro.core.params import FromBlock

from .embedding import domain_table, embed_chunk, plan_chunks
from .embedding_cache import load_cache
from .grids import similarity_grids
from .params import GridParams, SimilarityParams
from .references import (
    generated_source,
    plan_items,
    reference_sources,
    rejects_frame,
)
from .scoring import (
    IMAGE_SCORE_COLUMNS,
    SCORE_COLUMNS,
    SELECTED_COLUMNS,
    aggregate_prompts,
    score_concept,
)

logger = logging.getLogger(__name__)


def _lookup(
    generated: Mapping[str, Any], references: pd.DataFrame, verified: pd.DataFrame
) -> Callable[[str], Any]:
    refs = reference_sources(references, verified)

    def lookup(image_id: str) -> Any:
        if image_id.startswith("gen:"):
            return generated_source(generated, image_id)
        return refs[image_id]

    return lookup


def plan_similarity_items(
    int_generation_manifest: pd.DataFrame,
    int_generated_images: dict[str, Callable[[], Any]],
    raw_concepts: pd.DataFrame,
    raw_reference_images: pd.DataFrame,
    int_verified_images: pd.DataFrame,
    params: SimilarityParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """List the generations and the chosen references (verified if enough, else curated) to embed."""
    return plan_items(
        int_generation_manifest, int_generated_images, raw_concepts, raw_reference_images,
        int_verified_images, params,
    )


def embed_similarity_images(
    items: pd.DataFrame,
    int_generated_images: dict[str, Callable[[], Any]],
    raw_reference_images: pd.DataFrame,
    int_verified_images: pd.DataFrame,
    mdl_miniature_clip: Any,
    cache_prior: dict[str, pd.DataFrame],
    params: SimilarityParams,
) -> tuple[dict[str, Callable[[], pd.DataFrame]], pd.DataFrame]:
    """Plan the embedding of every image not yet cached, one lazy cache partition per chunk.

    The partitions are computed while ``int_similarity_embedding_cache`` saves them (batched,
    decoding overlapped), so finished chunks survive an interrupted run. Also returns the run
    table: per domain its embedder name, ``dim`` and this run's partition ids.
    """
    from imitation_kedro.models.embedder_factory import build_embedder

    lookup = _lookup(int_generated_images, raw_reference_images, int_verified_images)
    built: dict[Any, Any] = {}
    partitions: dict[str, Callable[[], pd.DataFrame]] = {}
    runs: list[dict[str, Any]] = []
    for domain, frame in items.groupby("domain", sort=True):
        spec = params.domain(str(domain)).embedder
        if spec not in built:
            built[spec] = build_embedder(spec, mdl_miniature_clip)
        embedder = built[spec]
        dim = int(embedder.dim)
        cached, _ = load_cache(cache_prior, embedder.name, dim) if params.use_cache else ({}, {})
        chunks = plan_chunks(embedder, frame, cached, params.cache_chunk)
        for i, (pid, keys, ids) in enumerate(chunks):
            partitions[pid] = partial(
                embed_chunk, embedder, keys, ids, lookup, spec.batch_size, params.decode_workers,
                params.prefetch_batches, params.convert_modes,
                f"embed {domain} {i + 1}/{len(chunks)} ({embedder.name})", params.decode_backend,
            )
        runs += [{"domain": str(domain), "embedder": embedder.name, "dim": dim, "partition": p}
                 for p in ([c[0] for c in chunks] or [""])]
    return partitions, pd.DataFrame(runs, columns=["domain", "embedder", "dim", "partition"])


def score_imitation(
    items: pd.DataFrame,
    embedding_cache: dict[str, Any],
    embedding_runs: pd.DataFrame,
    cache_prior: dict[str, pd.DataFrame],
    plan_rejects: pd.DataFrame,
    params: SimilarityParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score each (concept, model, prompt): top-k references, mean cosine, variance.

    Vectors come from this run's cache partitions, then (``use_cache``) the prior cache.
    Returns ``prm_imitation_scores``, per-image scores, the selected references and every
    reject of the run (planning, decoding, face filter, skipped concepts and prompts).
    """
    scores, images, selected, rejects = [], [], [], []
    for domain, frame in items.groupby("domain", sort=True):
        run = embedding_runs[embedding_runs["domain"] == domain]
        if run.empty:
            raise ValueError(f"no embedding run recorded for domain {domain!r}")
        new = {p: embedding_cache[p] for p in run["partition"] if p}
        prior = cache_prior if params.use_cache else None
        table, embed_rejects = domain_table(
            frame, str(run["embedder"].iloc[0]), int(run["dim"].iloc[0]), new, prior
        )
        rejects += embed_rejects
        for concept, concept_items in frame.groupby("concept", sort=True):
            face = params.domain(str(domain), str(concept)).embedder.is_face
            s, i, sel, rej = score_concept(str(concept), concept_items, table, params, face)
            scores += s
            images += i
            selected += sel
            rejects += rej
    score_frame = pd.DataFrame(scores, columns=SCORE_COLUMNS)
    if score_frame["score"].isna().any():
        bad = score_frame[score_frame["score"].isna()].iloc[0]
        raise ValueError(f"NaN score for concept {bad['concept']!r} prompt {bad['prompt_id']}")
    score_frame = score_frame.astype(
        {"prompt_id": "int64", "n_generated": "int64", "n_used": "int64", "n_refs": "int64",
         "score": "float64", "score_var": "float64", "zero_face_rate": "float64"}
    ).sort_values(["concept", "model", "prompt_id"], kind="stable").reset_index(drop=True)
    sets = items.drop_duplicates("concept").set_index("concept")
    sets = sets["concept_set"] if "concept_set" in sets else sets["domain"]
    score_frame.insert(1, "concept_set", score_frame["concept"].map(sets).astype(object))
    all_rejects = pd.concat(
        [f for f in (plan_rejects, rejects_frame(rejects)) if not f.empty] or [rejects_frame([])],
        ignore_index=True,
    )
    if not all_rejects.empty:
        summary = all_rejects.groupby(["level", "reason"]).size().sort_values(ascending=False)
        logger.info("similarity rejects:\n%s", summary.head(20).to_string())
    return (
        score_frame,
        pd.DataFrame(images, columns=IMAGE_SCORE_COLUMNS),
        pd.DataFrame(selected, columns=SELECTED_COLUMNS),
        all_rejects,
    )


def aggregate_concept_scores(prm_imitation_scores: pd.DataFrame) -> pd.DataFrame:
    """Per (concept, model): mean over prompts (the paper's imitation score) and its variance."""
    return aggregate_prompts(prm_imitation_scores)


def plot_similarity_grids(
    prm_imitation_scores: pd.DataFrame,
    image_scores: pd.DataFrame,
    selected_refs: pd.DataFrame,
    int_generated_images: dict[str, Callable[[], Any]],
    raw_reference_images: pd.DataFrame,
    int_verified_images: pd.DataFrame,
    grids: FromBlock[GridParams],
) -> dict[str, Any]:
    """Figures of generations beside their selected references, with scores, per concept
    (``grids`` is ``similarity.grids``)."""
    lookup = _lookup(int_generated_images, raw_reference_images, int_verified_images)
    return similarity_grids(prm_imitation_scores, image_scores, selected_refs, lookup, grids)
