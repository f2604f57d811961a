"""Schemas of the frequency pipeline's tables (caption counts, hits, verification, estimates)."""

from __future__ import annotations

from imitation_kedro.schemas.columns import CONCEPT, DOMAIN, TableSchema, cols

FREQUENCY = [
    TableSchema(
        "int_caption_counts",
        "Pre-training captions matching each concept (zeros included), before image sampling.",
        cols(
            CONCEPT,
            DOMAIN,
            ("captions", "int", "Captions that phrase-match the concept or an alias."),
            ("phrases", "int", "Phrases searched for the concept (name + aliases)."),
            ("corpus_rows", "int", "Caption rows scanned (the whole corpus; same on every row)."),
        ),
        key=("concept",),
    ),
    TableSchema(
        "int_image_rejects",
        "Every requested pre-training image that did not survive download and cleaning.",
        cols(
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
        cols(
            DOMAIN,
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
        cols(
            CONCEPT,
            DOMAIN,
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
        cols(
            CONCEPT,
            DOMAIN,
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
