"""pandera models of the world pipeline's raw tables (the miniature corpus and its ground truth)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from imitation_kedro.schemas.table import (
    CONCEPT,
    DOMAIN,
    Binary,
    Boolean,
    Integer,
    List,
    Number,
    Table,
    Text,
)


class Concepts(Table):
    """The concept catalogue: one row per concept with its path-safe slug and aliases."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    slug: Series[Text] = pa.Field(
        description="Path-safe, unique concept slug (folder names, partition ids).",
    )
    domain: Series[Text] = pa.Field(description=DOMAIN)
    aliases: Series[List] = pa.Field(
        description="Other phrases that name the concept in captions (may be empty).",
    )

    class Config:
        name = "raw_concepts"
        unique = ["concept"]


class ReferenceImages(Table):
    """Held-out reference images per concept (never part of the pre-training corpus)."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    ref_index: Series[Integer] = pa.Field(
        description="0-based index of the reference within its concept.",
    )
    png: Series[Binary] = pa.Field(description="The image, PNG-encoded (miniature: 32x32 RGB).")

    class Config:
        name = "raw_reference_images"
        unique = ["concept", "ref_index"]


class GroundTruth(Table):
    """The miniature world's true counts per concept (read only by checks, tests and reports)."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    true_caption_count: Series[Integer] = pa.Field(
        description="Corpus captions that phrase-match the concept or an alias.",
    )
    true_image_count: Series[Integer] = pa.Field(
        description="Captions naming the concept whose image shows it: what frequency estimates.",
    )
    true_image_count_all: Series[Integer] = pa.Field(
        description="All corpus images showing the concept, named in the caption or not.",
    )
    planted_frequency: Series[Integer] = pa.Field(
        description="Image count the world generator planted for the concept.",
    )

    class Config:
        name = "raw_ground_truth"
        unique = ["concept"]


class WorldReport(Table):
    """How well the miniature models learned each concept, beside its true frequency."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    planted_frequency: Series[Integer] = pa.Field(
        description="Image count planted by the world generator.",
    )
    true_caption_count: Series[Integer] = pa.Field(
        description="Captions phrase-matching the concept (ground truth).",
    )
    true_image_count: Series[Integer] = pa.Field(
        description="Named-and-shown images of the concept (ground truth).",
    )
    imitation_score: Series[Number] = pa.Field(
        description="Mean cosine of the concept's generations to its references.",
    )
    imitation_margin: Series[Number] = pa.Field(
        description="imitation_score minus the mean similarity to other concepts' references.",
    )
    retrieval_rate: Series[Number] = pa.Field(
        description="Share of generations whose nearest reference centroid is the concept's own.",
    )
    zero_shot_accuracy: Series[Number] = pa.Field(
        description="Share of its references the miniature CLIP labels as the concept.",
    )
    imitated: Series[Boolean] = pa.Field(
        description="retrieval_rate >= world.report.min_retrieval_rate.",
    )

    class Config:
        name = "rpt_world_report"
        unique = ["concept"]


class UserScores(Table):
    """A user's own threshold input (pipeline threshold_user_table). Optional columns domain,
    model (missing: 'all') and prompt_id (per-prompt rows enable the nested bootstrap) are used
    when present; NaN/inf/negative values become rows of out_threshold_rejects.
    """

    concept: Series[Text] = pa.Field(description="Concept name (non-empty).")
    count: Series[Number] = pa.Field(
        nullable=True,
        description="Number of pre-training images of the concept (FIT's x-axis).",
    )
    score: Series[Number] = pa.Field(
        nullable=True,
        description="Imitation score of the concept (FIT's y-axis).",
    )

    class Config:
        name = "raw_user_scores"
