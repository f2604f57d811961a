"""Column declarations of the handoff tables (validated on save by :mod:`imitation_kedro.schemas`).

One ``TableSchema`` per catalog entry, named like the entry. ``nullable`` says whether a
column may hold nulls (NaN / None / <NA>); ``key`` lists the columns that identify a row.
Validation allows extra columns, so optional ones are left out of ``columns``.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "bytes": "binary",
    "list": "list",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of KINDS
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(*rows: tuple) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)


_CONCEPT = ("concept", "str", "Concept display name, as in raw_concepts.")
_DOMAIN = ("domain", "str", "Concept domain (miniature: style/motif; paper: faces/art).")
_MODEL = ("model", "str", "Text-to-image model key (as in generation parameters).")

# ---------------------------------------------------------------- world (raw inputs)
WORLD = [
    TableSchema(
        "raw_concepts",
        "The concept catalogue: one row per concept with its path-safe slug and aliases.",
        _cols(
            _CONCEPT,
            ("slug", "str", "Path-safe, unique concept slug (folder names, partition ids)."),
            _DOMAIN,
            ("aliases", "list", "Other phrases that name the concept in captions (may be empty)."),
        ),
        key=("concept",),
    ),
    TableSchema(
        "raw_reference_images",
        "Held-out reference images per concept (never part of the pre-training corpus).",
        _cols(
            _CONCEPT,
            ("ref_index", "int", "0-based index of the reference within its concept."),
            ("png", "bytes", "The image, PNG-encoded (miniature: 32x32 RGB)."),
        ),
        key=("concept", "ref_index"),
    ),
    TableSchema(
        "raw_ground_truth",
        "The miniature world's true counts per concept (read only by checks, tests and reports).",
        _cols(
            _CONCEPT,
            _DOMAIN,
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
        _cols(
            _CONCEPT,
            _DOMAIN,
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
        _cols(
            ("concept", "str", "Concept name (non-empty)."),
            ("count", "float", "Number of pre-training images of the concept (FIT's x-axis).", True),
            ("score", "float", "Imitation score of the concept (FIT's y-axis).", True),
        ),
    ),
]

# ---------------------------------------------------------------- frequency
FREQUENCY = [
    TableSchema(
        "int_caption_counts",
        "Pre-training captions matching each concept (zeros included), before image sampling.",
        _cols(
            _CONCEPT,
            _DOMAIN,
            ("captions", "int", "Captions that phrase-match the concept or an alias."),
            ("phrases", "int", "Phrases searched for the concept (name + aliases)."),
            ("corpus_rows", "int", "Caption rows scanned (the whole corpus; same on every row)."),
        ),
        key=("concept",),
    ),
    TableSchema(
        "int_image_rejects",
        "Every requested pre-training image that did not survive download and cleaning.",
        _cols(
            ("key", "str", "Image key: the caption row's SAMPLE_ID, zero-padded to 9 digits."),
            ("url", "str", "Image URL from the caption row."),
            ("reason", "str", "missing, dead_url, too_few_bytes, unreadable, too_small or not_rgb."),
            ("detail", "str", "Human-readable detail (error message, size found)."),
        ),
        key=("key",),
    ),
    TableSchema(
        "int_verification_calibration",
        "Per-domain verification thresholds calibrated on same- vs different-concept reference pairs.",
        _cols(
            _DOMAIN,
            ("statistic", "str", "Pair statistic calibrated: mean_pair (FIT) or loo_max."),
            ("n_concepts", "int", "Concepts whose references were used."),
            ("n_positive", "int", "Same-concept scores (positives)."),
            ("n_negative", "int", "Different-concept scores (negatives)."),
            ("min_positive", "float", "Smallest positive score."),
            ("max_negative", "float", "Largest negative score."),
            ("lower", "float", "(min_positive + max_negative) / 2: FIT's lower threshold."),
            ("higher", "float", "Threshold maximising 2 TPR (1-FPR) / (TPR + 1-FPR): the higher one."),
            ("tpr_lower", "float", "True-positive rate at the lower threshold."),
            ("fpr_lower", "float", "False-positive rate at the lower threshold."),
            ("tpr_higher", "float", "True-positive rate at the higher threshold."),
            ("fpr_higher", "float", "False-positive rate at the higher threshold."),
        ),
        key=("domain",),
    ),
    TableSchema(
        "int_verification_scores",
        "Verification score of each sampled, downloaded pre-training image against its concept.",
        _cols(
            _CONCEPT,
            _DOMAIN,
            ("key", "str", "Image key (SAMPLE_ID, 9-digit zero-padded)."),
            ("score", "float", "Max cosine of the image (faces: its best face) to the concept's references."),
            ("gate_score", "float", "Cosine to the artwork text label (art domain only; empty elsewhere).", True),
            ("verified", "bool", "score above the domain threshold (and gate_score above the artwork threshold)."),
        ),
        key=("concept", "key"),
    ),
    TableSchema(
        "prm_concept_frequencies",
        "Estimated number of pre-training images of each concept (FIT's x-axis).",
        _cols(
            _CONCEPT,
            _DOMAIN,
            ("captions", "int", "Pre-training captions that phrase-match the concept or an alias."),
            ("sampled", "int", "Caption hits sampled for image verification (capped per concept)."),
            ("downloaded", "int", "Sampled images obtained and passing cleaning."),
            ("verified", "int", "Downloaded images verified to show the concept."),
            ("estimate", "float", "verified x captions / downloaded: the estimated image count.", True),
            ("ci_low", "float", "Lower bound of the Wilson interval, propagated to the count.", True),
            ("ci_high", "float", "Upper bound of the Wilson interval, propagated to the count.", True),
            ("status", "str", "ok, no_captions, or no_images (captions but no usable image: estimate empty)."),
            ("pretraining", "str", "laion2b_en, or laion5b: estimate and CI scaled by captions_5b / captions (FIT §3.6)."),
            ("captions_5b", "int", "LAION-5B captions that phrase-match the concept (laion5b only; else empty).", True),
        ),
        key=("concept",),
    ),
]

# ---------------------------------------------------------------- generation and similarity
SIMILARITY = [
    TableSchema(
        "out_generation_manifest",
        "One row per generated image: what was asked, with which seed and settings, and where it is.",
        _cols(
            _MODEL,
            ("concept", "str", "Concept display name."),
            ("slug", "str", "Path-safe concept slug."),
            _DOMAIN,
            ("prompt_id", "int", "Index of the prompt template."),
            ("prompt", "str", "The prompt text sent to the model."),
            ("index", "int", "Image index within the prompt."),
            ("seed", "int", "Generator seed of this image (stable key, independent of batching)."),
            ("path", "str", "Partition id of the PNG in out_generated_images."),
            ("steps", "int", "Denoising steps."),
            ("guidance_scale", "float", "Classifier-free guidance scale."),
            ("height", "int", "Image height in pixels."),
            ("width", "int", "Image width in pixels."),
            ("scheduler", "str", "Scheduler class used.", True),
            ("dtype", "str", "Model dtype."),
            ("duration_s", "float", "Seconds spent rendering this image's batch, per image.", True),
        ),
        key=("model", "concept", "prompt_id", "index"),
    ),
    TableSchema(
        "prm_imitation_scores",
        "How closely each model's generations imitate each concept, per prompt (FIT's y-axis).",
        _cols(
            ("concept", "str", "Concept display name."),
            _DOMAIN,
            _MODEL,
            ("prompt_id", "int", "Index of the prompt template."),
            ("score", "float", "Mean cosine similarity of the prompt's generations to the top-k references."),
            ("score_var", "float", "Variance over generated images of the per-image score."),
            ("n_generated", "int", "Images generated for this concept and prompt."),
            ("n_used", "int", "Images scored (faces: exactly one face)."),
            ("n_refs", "int", "References selected (top-k closest to the generated set)."),
            ("ref_source", "str", "Where references came from: laion (verified pre-training images) or curated."),
            ("zero_face_rate", "float", "Share of generations with no face (faces domain; empty for domains without a face detector).", True),
        ),
        key=("concept", "model", "prompt_id"),
    ),
    TableSchema(
        "prm_concept_imitation_scores",
        "The paper's imitation score per concept and model: prm_imitation_scores averaged over prompts.",
        _cols(
            _CONCEPT,
            _DOMAIN,
            _MODEL,
            ("score", "float", "Mean over prompts of the per-prompt imitation score."),
            ("score_var_prompts", "float", "Variance of the per-prompt scores (ddof 1; 0 with one prompt)."),
            ("n_prompts", "int", "Prompts scored."),
            ("n_generated", "int", "Images generated, summed over prompts."),
            ("n_used", "int", "Images scored, summed over prompts."),
            ("n_refs", "int", "References selected (max over prompts)."),
            ("ref_source", "str", "Where references came from: laion or curated."),
            ("zero_face_rate", "float", "Mean share of generations with no face (faces domain only).", True),
        ),
        key=("concept", "model"),
    ),
    TableSchema(
        "int_similarity_rejects",
        "Every reject of a similarity run; skipped concepts are the rows with level concept.",
        _cols(
            ("level", "str", "What was left out: concept, prompt or image."),
            ("concept", "str", "Concept display name."),
            ("domain", "str", "Concept domain (empty for a concept unknown to raw_concepts).", True),
            ("model", "str", "Text-to-image model key (empty for concept-level and reference rows).", True),
            ("prompt_id", "int", "Prompt index (empty for concept-level and reference rows).", True),
            ("image_id", "str", "Image id (gen:<partition> or a reference id; image level only).", True),
            ("role", "str", "generated or reference (image level only).", True),
            ("reason", "str", "Why it was left out."),
        ),
    ),
]
