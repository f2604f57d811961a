"""The ``similarity`` pipeline: how closely generations imitate each concept (FIT reference 5, 10.3)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from .nodes import (
    aggregate_concept_scores,
    embed_similarity_images,
    plan_similarity_items,
    plot_similarity_grids,
    score_imitation,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plan_similarity_items,
                inputs=["int_generation_manifest", "int_generated_images", "raw_concepts",
                        "raw_reference_images", "int_verified_images", "params:similarity"],
                outputs=["int_similarity_items", "int_similarity_plan_rejects"],
                name="plan_similarity_items",
            ),
            Node(
                embed_similarity_images,
                inputs=["int_similarity_items", "int_generated_images", "raw_reference_images",
                        "int_verified_images", "mdl_miniature_clip",
                        "int_similarity_embedding_cache_prior", "params:similarity"],
                outputs=["int_similarity_embedding_cache", "int_similarity_embedding_runs"],
                name="embed_similarity_images",
            ),
            Node(
                score_imitation,
                inputs=["int_similarity_items", "int_similarity_embedding_cache",
                        "int_similarity_embedding_runs", "int_similarity_embedding_cache_prior",
                        "int_similarity_plan_rejects", "params:similarity"],
                outputs=["prm_imitation_scores", "int_similarity_image_scores",
                         "int_similarity_selected_refs", "int_similarity_rejects"],
                name="score_imitation",
            ),
            Node(
                aggregate_concept_scores,
                inputs="prm_imitation_scores",
                outputs="prm_concept_imitation_scores",
                name="aggregate_concept_scores",
            ),
            Node(
                plot_similarity_grids,
                inputs=["prm_imitation_scores", "int_similarity_image_scores",
                        "int_similarity_selected_refs", "int_generated_images",
                        "raw_reference_images", "int_verified_images", "params:similarity.grids"],
                outputs="rpt_similarity_grids",
                name="plot_similarity_grids",
            ),
        ]
    )
