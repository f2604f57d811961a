"""Every node of the ``world`` pipeline: data in, data out; the algorithms live in the step modules.

Each node takes the world seed (``params:world.seed``) and the one parameter sub-block it reads
(``params:world.concepts``, ``.corpus``, ``.clip``, ``.t2i``, ``.report``), typed, so the lineage
view shows which part of the world depends on which setting. The cross-block rules of
:class:`~imitation_kedro.pipelines.world.params.WorldParams` run at start-up
(``ParameterValidationHook``). torch, open_clip and diffusers are imported inside the step
functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from imitation_kedro.pipelines.world import concepts as _concepts
from imitation_kedro.pipelines.world import corpus as _corpus
from imitation_kedro.pipelines.world import report as _report
from imitation_kedro.pipelines.world import training as _training
from imitation_kedro.pipelines.world.params import (
    ClipParams,
    ConceptParams,
    CorpusParams,
    ReportParams,
    T2IParams,
)


def plan_concepts(seed: int, concepts: ConceptParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concept names, aliases, domains, planted frequencies and render specs.

    Returns ``raw_world_concept_specs`` (internal: planted frequency, spec JSON) and the public
    ``raw_concepts`` (concept, slug, domain, aliases).
    """
    return _concepts.draw_concepts(seed, concepts)


def render_reference_images(
    raw_world_concept_specs: pd.DataFrame, seed: int, concepts: ConceptParams, corpus: CorpusParams
) -> pd.DataFrame:
    """``raw_reference_images``: each concept's held-out reference PNGs (never in the corpus)."""
    return _concepts.render_references(raw_world_concept_specs, seed, concepts, corpus.noise)


def plan_corpus(raw_world_concept_specs: pd.DataFrame, seed: int, corpus: CorpusParams) -> pd.DataFrame:
    """``raw_world_corpus_plan``: every corpus row, what its image shows, duplicates and traps."""
    return _corpus.lay_out_rows(raw_world_concept_specs, seed, corpus)


def shard_laion_captions(raw_world_corpus_plan: pd.DataFrame, corpus: CorpusParams) -> dict[str, pd.DataFrame]:
    """``raw_laion_captions``: the public caption shards in LAION-2B-en's columns."""
    return _corpus.caption_shards(raw_world_corpus_plan, corpus.rows_per_shard)


def render_corpus_images(
    raw_world_corpus_plan: pd.DataFrame,
    raw_world_concept_specs: pd.DataFrame,
    seed: int,
    concepts: ConceptParams,
    corpus: CorpusParams,
) -> dict[str, pd.DataFrame]:
    """``raw_laion_images``: img2dataset-style shards of every image-bearing row (PNG bytes)."""
    return _corpus.image_shards(
        raw_world_corpus_plan, raw_world_concept_specs, seed, list(concepts.domains), corpus
    )


def count_ground_truth(
    raw_world_corpus_plan: pd.DataFrame, raw_world_concept_specs: pd.DataFrame
) -> pd.DataFrame:
    """``raw_ground_truth``: true caption and image counts per concept (kept from the pipelines)."""
    return _corpus.ground_truth(raw_world_corpus_plan, raw_world_concept_specs)


def decode_training_images(raw_laion_images: Mapping[str, Any]) -> dict[str, Any]:
    """``feat_world_training_images``: every corpus image as one uint8 array, with its caption."""
    return _training.decode_images(raw_laion_images)


def train_miniature_clip(feat_world_training_images: dict[str, Any], seed: int, clip: ClipParams) -> Any:
    """``mdl_miniature_clip``: the miniature CLIP (an ``OpenClipBundle``), trained contrastively."""
    return _training.train_clip_bundle(feat_world_training_images, seed, clip)


def train_miniature_t2i(
    feat_world_training_images: dict[str, Any], mdl_miniature_clip: Any, seed: int, t2i: T2IParams
) -> Any:
    """``mdl_t2i``: the miniature latent text-to-image diffusers pipeline (frozen CLIP text tower)."""
    return _training.train_t2i_pipeline(feat_world_training_images, mdl_miniature_clip, seed, t2i)


def evaluate_world(  # noqa: PLR0913
    mdl_t2i: Any,
    mdl_miniature_clip: Any,
    raw_concepts: pd.DataFrame,
    raw_reference_images: pd.DataFrame,
    raw_ground_truth: pd.DataFrame,
    seed: int,
    report: ReportParams,
) -> pd.DataFrame:
    """``rpt_world_report``: per concept, how well the miniature model imitates it.

    Generations of every concept (seeded per image) against its held-out references, both
    embedded by the miniature CLIP; columns in ``report.REPORT_COLUMNS``.
    """
    clip = _report.clip_model_of(mdl_miniature_clip)
    clip.eval()
    generated = _report.embed_generations(mdl_t2i, clip, list(raw_concepts["concept"]), seed, report)
    return _report.imitation_table(
        generated, clip, raw_concepts, raw_reference_images, raw_ground_truth, report
    )


def summarise_world(rpt_world_report: pd.DataFrame, report: ReportParams) -> dict[str, Any]:
    """``rpt_world_summary``: Spearman rho of imitation vs frequency, zero-shot accuracy, deciles."""
    return _report.summarise_imitation(rpt_world_report, report)


def plot_world_imitation(rpt_world_report: pd.DataFrame, rpt_world_summary: dict[str, Any]) -> Any:
    """``rpt_world_imitation_plot``: planted frequency (log) vs imitation, one colour per domain."""
    return _report.imitation_figure(rpt_world_report, rpt_world_summary)
