"""Schemas of the world pipeline's raw tables (the miniature corpus and its ground truth)."""

from __future__ import annotations

from imitation_kedro.schemas.columns import CONCEPT, DOMAIN, TableSchema, cols

WORLD = [
    TableSchema(
        "raw_concepts",
        "The concept catalogue: one row per concept with its path-safe slug and aliases.",
        cols(
            CONCEPT,
            ("slug", "str", "Path-safe, unique concept slug (folder names, partition ids)."),
            DOMAIN,
            ("aliases", "list", "Other phrases that name the concept in captions (may be empty)."),
        ),
        key=("concept",),
    ),
    TableSchema(
        "raw_reference_images",
        "Held-out reference images per concept (never part of the pre-training corpus).",
        cols(
            CONCEPT,
            ("ref_index", "int", "0-based index of the reference within its concept."),
            ("png", "bytes", "The image, PNG-encoded (miniature: 32x32 RGB)."),
        ),
        key=("concept", "ref_index"),
    ),
    TableSchema(
        "raw_ground_truth",
        "The miniature world's true counts per concept (read only by checks, tests and reports).",
        cols(
            CONCEPT,
            DOMAIN,
            ("true_caption_count", "int", "Corpus captions that phrase-match the concept or an alias."),
            ("true_image_count", "int", "Captions naming the concept whose image shows it: what frequency estimates."),
            ("true_image_count_all", "int", "All corpus images showing the concept, named in the caption or not."),
            ("planted_frequency", "int", "Image count the world generator planted for the concept."),
        ),
        key=("concept",),
    ),
    TableSchema(
        "rpt_world_report",
        "How well the miniature models learned each concept, beside its true frequency.",
        cols(
            CONCEPT,
            DOMAIN,
            ("planted_frequency", "int", "Image count planted by the world generator."),
            ("true_caption_count", "int", "Captions phrase-matching the concept (ground truth)."),
            ("true_image_count", "int", "Named-and-shown images of the concept (ground truth)."),
            ("imitation_score", "float", "Mean cosine of the concept's generations to its references."),
            ("imitation_margin", "float", "imitation_score minus the mean similarity to other concepts' references."),
            ("retrieval_rate", "float", "Share of generations whose nearest reference centroid is the concept's own."),
            ("zero_shot_accuracy", "float", "Share of its references the miniature CLIP labels as the concept."),
            ("imitated", "bool", "retrieval_rate >= world.report.min_retrieval_rate."),
        ),
        key=("concept",),
    ),
    TableSchema(
        "raw_user_scores",
        "A user's own threshold input (threshold.source: user_table). Optional columns domain, "
        "model (missing: 'all') and prompt_id (per-prompt rows enable the nested bootstrap) are "
        "used when present; NaN/inf/negative values become rows of out_threshold_rejects.",
        cols(
            ("concept", "str", "Concept name (non-empty)."),
            ("count", "float", "Number of pre-training images of the concept (FIT's x-axis).", True),
            ("score", "float", "Imitation score of the concept (FIT's y-axis).", True),
        ),
    ),
]
