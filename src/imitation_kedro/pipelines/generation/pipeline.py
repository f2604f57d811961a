"""The `generation` pipeline: concepts -> prompt table -> plan -> images -> manifests -> grids.

Tags: ``shard`` (what each GPU process runs) and ``merge`` (the final union and grids).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipelines.generation.nodes import (
    build_prompt_table,
    generate_images,
    merge_generation_manifests,
    plan_generation,
    plot_generation_grids,
    write_shard_manifest,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the generation pipeline (see README.md for the multi-GPU recipe)."""
    return Pipeline(
        [
            Node(
                build_prompt_table,
                inputs=["raw_concepts", "params:generation"],
                outputs="int_prompt_table",
                name="build_prompt_table",
                tags=["shard", "merge"],
            ),
            Node(
                plan_generation,
                inputs=["int_prompt_table", "int_existing_generated_images", "params:generation"],
                outputs="int_generation_plan",
                name="plan_generation",
                tags=["shard"],
            ),
            Node(
                generate_images,
                inputs=["int_generation_plan", "mdl_t2i", "params:generation"],
                # Saved in this order: the render log is complete once the images are saved.
                outputs=["int_generated_images", "int_generation_render_logs"],
                name="generate_images",
                tags=["shard"],
            ),
            Node(
                write_shard_manifest,
                inputs=[
                    "int_generation_plan",
                    "int_generated_images",
                    "int_generation_render_logs",
                    "params:generation",
                ],
                outputs="int_generation_shard_manifests",
                name="write_shard_manifest",
                tags=["shard"],
            ),
            Node(
                merge_generation_manifests,
                inputs=["int_generation_shard_manifests", "int_prompt_table", "params:generation"],
                outputs="int_generation_manifest",
                name="merge_generation_manifests",
                tags=["merge"],
            ),
            Node(
                plot_generation_grids,
                inputs=[
                    "int_generation_manifest",
                    "int_generated_images",
                    "params:generation.model",
                    "params:generation.grid",
                ],
                outputs=["rpt_generation_grid", "rpt_generation_concept_grids"],
                name="plot_generation_grids",
                tags=["merge"],
            ),
        ]
    )
