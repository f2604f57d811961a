"""Schemas of the generation and similarity pipelines' tables."""

from __future__ import annotations

from imitation_kedro.schemas.columns import CONCEPT, DOMAIN, MODEL, TableSchema, cols

SIMILARITY = [
    TableSchema(
        "out_generation_manifest",
        "One row per generated image: what was asked, with which seed and settings, and where it is.",
        cols(
            MODEL,
            ("concept", "str", "Concept display name."),
            ("slug", "str", "Path-safe concept slug."),
            DOMAIN,
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
        cols(
            ("concept", "str", "Concept display name."),
            DOMAIN,
            MODEL,
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
        cols(
            CONCEPT,
            DOMAIN,
            MODEL,
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
        cols(
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
