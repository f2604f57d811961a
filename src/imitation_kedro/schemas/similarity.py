"""pandera models of the generation and similarity pipelines' tables."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from imitation_kedro.schemas.frequency import CONCEPT_SET
from imitation_kedro.schemas.table import CONCEPT, DOMAIN, MODEL, Integer, Number, Table, Text


class GenerationManifest(Table):
    """One row per generated image: what was asked, with which seed and settings, and where it
    is.
    """

    model: Series[Text] = pa.Field(description=MODEL)
    concept: Series[Text] = pa.Field(description="Concept display name.")
    slug: Series[Text] = pa.Field(description="Path-safe concept slug.")
    domain: Series[Text] = pa.Field(description=DOMAIN)
    prompt_id: Series[Integer] = pa.Field(description="Index of the prompt template.")
    prompt: Series[Text] = pa.Field(description="The prompt text sent to the model.")
    index: Series[Integer] = pa.Field(description="Image index within the prompt.")
    seed: Series[Integer] = pa.Field(
        description="Generator seed of this image (stable key, independent of batching).",
    )
    path: Series[Text] = pa.Field(description="Partition id of the PNG in int_generated_images.")
    steps: Series[Integer] = pa.Field(description="Denoising steps.")
    guidance_scale: Series[Number] = pa.Field(description="Classifier-free guidance scale.")
    height: Series[Integer] = pa.Field(description="Image height in pixels.")
    width: Series[Integer] = pa.Field(description="Image width in pixels.")
    scheduler: Series[Text] = pa.Field(nullable=True, description="Scheduler class used.")
    dtype: Series[Text] = pa.Field(description="Model dtype.")
    weights_sha256: Series[Text] = pa.Field(
        description="SHA-256 of the model weights the image was rendered with (provenance).",
    )
    fingerprint: Series[Text] = pa.Field(
        description="Hash of everything that determines the image (weights, scheduler, "
        "settings, prompt, seed, size); resume reuses a file only when it matches.",
    )
    pixels_sha256: Series[Text] = pa.Field(
        description="SHA-256 of the image's mode, size and pixels (the image set's identity).",
    )

    class Config:
        name = "int_generation_manifest"
        unique = ["model", "concept", "prompt_id", "index"]


class ImitationScores(Table):
    """How closely each model's generations imitate each concept, per prompt (FIT's y-axis)."""

    concept: Series[Text] = pa.Field(description="Concept display name.")
    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    model: Series[Text] = pa.Field(description=MODEL)
    prompt_id: Series[Integer] = pa.Field(description="Index of the prompt template.")
    score: Series[Number] = pa.Field(
        description="Mean cosine similarity of the prompt's generations to the top-k references.",
    )
    score_var: Series[Number] = pa.Field(
        description="Variance over generated images of the per-image score.",
    )
    n_generated: Series[Integer] = pa.Field(
        description="Images generated for this concept and prompt.",
    )
    n_used: Series[Integer] = pa.Field(description="Images scored (faces: exactly one face).")
    n_refs: Series[Integer] = pa.Field(
        description="References selected (top-k closest to the generated set).",
    )
    ref_source: Series[Text] = pa.Field(
        description="Where references came from: laion (verified pre-training images) or curated.",
    )
    zero_face_rate: Series[Number] = pa.Field(
        nullable=True,
        description="Share of generations with no face (faces domain; empty for domains without a face detector).",
    )

    class Config:
        name = "prm_imitation_scores"
        unique = ["concept", "model", "prompt_id"]


class ConceptImitationScores(Table):
    """The paper's imitation score per concept and model: prm_imitation_scores averaged over
    prompts.
    """

    concept: Series[Text] = pa.Field(description=CONCEPT)
    concept_set: Series[Text] = pa.Field(description=CONCEPT_SET)
    domain: Series[Text] = pa.Field(description=DOMAIN)
    model: Series[Text] = pa.Field(description=MODEL)
    score: Series[Number] = pa.Field(
        description="Mean over prompts of the per-prompt imitation score.",
    )
    score_var_prompts: Series[Number] = pa.Field(
        description="Variance of the per-prompt scores (ddof 1; 0 with one prompt).",
    )
    n_prompts: Series[Integer] = pa.Field(description="Prompts scored.")
    n_generated: Series[Integer] = pa.Field(description="Images generated, summed over prompts.")
    n_used: Series[Integer] = pa.Field(description="Images scored, summed over prompts.")
    n_refs: Series[Integer] = pa.Field(description="References selected (max over prompts).")
    ref_source: Series[Text] = pa.Field(
        description="Where references came from: laion or curated.",
    )
    zero_face_rate: Series[Number] = pa.Field(
        nullable=True,
        description="Mean share of generations with no face (faces domain only).",
    )

    class Config:
        name = "prm_concept_imitation_scores"
        unique = ["concept", "model"]


class SimilarityRejects(Table):
    """Every reject of a similarity run; skipped concepts are the rows with level concept."""

    level: Series[Text] = pa.Field(description="What was left out: concept, prompt or image.")
    concept: Series[Text] = pa.Field(description="Concept display name.")
    domain: Series[Text] = pa.Field(
        nullable=True,
        description="Concept domain (empty for a concept unknown to raw_concepts).",
    )
    model: Series[Text] = pa.Field(
        nullable=True,
        description="Text-to-image model key (empty for concept-level and reference rows).",
    )
    prompt_id: Series[Integer] = pa.Field(
        nullable=True,
        description="Prompt index (empty for concept-level and reference rows).",
    )
    image_id: Series[Text] = pa.Field(
        nullable=True,
        description="Image id (gen:<partition> or a reference id; image level only).",
    )
    role: Series[Text] = pa.Field(
        nullable=True,
        description="generated or reference (image level only).",
    )
    reason: Series[Text] = pa.Field(description="Why it was left out.")

    class Config:
        name = "int_similarity_rejects"
