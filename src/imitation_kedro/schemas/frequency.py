"""pandera models of the frequency pipeline's tables (caption counts, hits, verification, estimates)."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from imitation_kedro.schemas.table import CONCEPT, DOMAIN, Boolean, Integer, Number, Table, Text

CONCEPT_SET = (
    "Concept set with its own threshold (paper: celebrities, politicians, classical, modern; "
    "miniature: the domain)."
)


class CaptionCounts(Table):
    """Pre-training captions matching each concept (zeros included), before image sampling."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    captions: Series[Integer] = pa.Field(
        description="Captions that phrase-match the concept or an alias.",
    )
    phrases: Series[Integer] = pa.Field(
        description="Phrases searched for the concept (name + aliases).",
    )
    corpus_rows: Series[Integer] = pa.Field(
        description="Caption rows scanned (the whole corpus; same on every row).",
    )

    class Config:
        name = "int_caption_counts"
        unique = ["concept"]


class ImageRejects(Table):
    """Every requested pre-training image that did not survive download and cleaning."""

    key: Series[Text] = pa.Field(
        description="Image key: the caption row's SAMPLE_ID, zero-padded to 9 digits.",
    )
    url: Series[Text] = pa.Field(description="Image URL from the caption row.")
    reason: Series[Text] = pa.Field(
        description="missing, dead_url, too_few_bytes, unreadable, too_small or not_rgb.",
    )
    detail: Series[Text] = pa.Field(
        description="Human-readable detail (error message, size found).",
    )

    class Config:
        name = "int_image_rejects"
        unique = ["key"]


class CleanImages(Table):
    """Index of the clean images (the pictures themselves live in the clean shards)."""

    key: Series[Text] = pa.Field(description="Image key (SAMPLE_ID, 9-digit zero-padded).")
    shard: Series[Text] = pa.Field(description="Clean shard holding the image (int_clean_image_shards).")
    width: Series[Integer] = pa.Field(description="Image width in pixels.")
    height: Series[Integer] = pa.Field(description="Image height in pixels.")
    bytes: Series[Integer] = pa.Field(description="Size of the encoded image in bytes.")

    class Config:
        name = "int_clean_images"
        unique = ["key"]


class VerificationCalibration(Table):
    """Per-set verification thresholds calibrated on same- vs different-concept reference
    pairs.
    """

    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    statistic: Series[Text] = pa.Field(
        description="Pair statistic calibrated: mean_pair (FIT) or loo_max.",
    )
    n_concepts: Series[Integer] = pa.Field(description="Concepts whose references were used.")
    n_positive: Series[Integer] = pa.Field(description="Same-concept scores (positives).")
    n_negative: Series[Integer] = pa.Field(description="Different-concept scores (negatives).")
    min_positive: Series[Number] = pa.Field(description="Smallest positive score.")
    max_negative: Series[Number] = pa.Field(description="Largest negative score.")
    lower: Series[Number] = pa.Field(
        description="(min_positive + max_negative) / 2: FIT's lower threshold.",
    )
    higher: Series[Number] = pa.Field(
        description="Threshold maximising 2 TPR (1-FPR) / (TPR + 1-FPR): the higher one.",
    )
    tpr_lower: Series[Number] = pa.Field(description="True-positive rate at the lower threshold.")
    fpr_lower: Series[Number] = pa.Field(description="False-positive rate at the lower threshold.")
    tpr_higher: Series[Number] = pa.Field(
        description="True-positive rate at the higher threshold.",
    )
    fpr_higher: Series[Number] = pa.Field(
        description="False-positive rate at the higher threshold.",
    )

    class Config:
        name = "int_verification_calibration"
        unique = ["concept_set"]


class VerificationScores(Table):
    """Verification score of each sampled, downloaded pre-training image against its concept."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    key: Series[Text] = pa.Field(description="Image key (SAMPLE_ID, 9-digit zero-padded).")
    score: Series[Number] = pa.Field(
        description="Max cosine of the image (faces: its best face) to the concept's references.",
    )
    gate_score: Series[Number] = pa.Field(
        nullable=True,
        description="Cosine to the artwork text label (art domain only; empty elsewhere).",
    )
    verified: Series[Boolean] = pa.Field(
        description="score above the set's threshold (and gate_score above the artwork threshold).",
    )
    matched_faces: Series[Integer] = pa.Field(
        description="Faces of the image above the threshold (faces method; else 1 if verified, 0).",
    )

    class Config:
        name = "int_verification_scores"
        unique = ["concept", "key"]


class ConceptFrequencies(Table):
    """Estimated number of pre-training images of each concept per corpus (FIT's x-axis)."""

    concept: Series[Text] = pa.Field(description=CONCEPT)
    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    corpus: Series[Text] = pa.Field(
        description="Pre-training corpus of the estimate: laion2b_en, or laion5b (scaled by "
        "captions_5b / captions, FIT §3.6). Each model's thresholds read its own corpus.",
    )
    captions: Series[Integer] = pa.Field(
        description="Pre-training captions that phrase-match the concept or an alias.",
    )
    sampled: Series[Integer] = pa.Field(
        description="Caption hits sampled for image verification (capped per concept).",
    )
    downloaded: Series[Integer] = pa.Field(
        description="Sampled images obtained and passing cleaning.",
    )
    verified: Series[Integer] = pa.Field(
        description="Downloaded images verified to show the concept.",
    )
    verified_units: Series[Integer] = pa.Field(
        description="Verified units counted: matched faces (image + box, FIT §3.3) or images.",
    )
    estimate: Series[Number] = pa.Field(
        nullable=True,
        description="verified_units x captions / downloaded: the estimated image count.",
    )
    ci_low: Series[Number] = pa.Field(
        nullable=True,
        description="Lower bound of the Wilson interval, propagated to the count.",
    )
    ci_high: Series[Number] = pa.Field(
        nullable=True,
        description="Upper bound of the Wilson interval, propagated to the count.",
    )
    status: Series[Text] = pa.Field(
        description="ok, no_captions, or no_images (captions but no usable image: raw count 0, "
        "or empty with estimate.no_images: nan).",
    )
    captions_5b: Series[Integer] = pa.Field(
        nullable=True,
        description="LAION-5B captions that phrase-match the concept (laion5b only; else empty).",
    )

    class Config:
        name = "prm_concept_frequencies"
        unique = ["concept", "corpus"]
