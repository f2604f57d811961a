"""The ``world`` pipeline: build the miniature world from nothing (``kedro run --pipelines world``)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipelines.world import nodes

SEED = "params:world.seed"
CONCEPTS = "params:world.concepts"
CORPUS = "params:world.corpus"
REPORT = "params:world.report"
SPECS = "raw_world_concept_specs"
PLAN = "raw_world_corpus_plan"
IMAGES = "feat_world_training_images"


def create_pipeline(**kwargs) -> Pipeline:
    """Concepts -> corpus + ground truth -> miniature CLIP and text-to-image -> world report."""
    return Pipeline(
        [
            Node(nodes.plan_concepts, [SEED, CONCEPTS], [SPECS, "raw_concepts"], name="plan_concepts"),
            Node(nodes.render_reference_images, [SPECS, SEED, CONCEPTS, CORPUS],
                 "raw_reference_images", name="render_reference_images"),
            Node(nodes.plan_corpus, [SPECS, SEED, CORPUS], PLAN, name="plan_corpus"),
            Node(nodes.shard_laion_captions, [PLAN, CORPUS], "raw_laion_captions",
                 name="shard_laion_captions"),
            Node(nodes.render_corpus_images, [PLAN, SPECS, SEED, CONCEPTS, CORPUS], "raw_laion_images",
                 name="render_corpus_images"),
            Node(nodes.count_ground_truth, [PLAN, SPECS], "raw_ground_truth", name="count_ground_truth"),
            Node(nodes.decode_training_images, "raw_laion_images", IMAGES,
                 name="decode_training_images"),
            Node(nodes.train_miniature_clip, [IMAGES, SEED, "params:world.clip"], "mdl_miniature_clip",
                 name="train_miniature_clip"),
            Node(nodes.train_miniature_t2i, [IMAGES, "mdl_miniature_clip", SEED, "params:world.t2i"],
                 "mdl_t2i", name="train_miniature_t2i"),
            Node(nodes.evaluate_world,
                 ["mdl_t2i", "mdl_miniature_clip", "raw_concepts", "raw_reference_images",
                  "raw_ground_truth", SEED, REPORT],
                 "rpt_world_report", name="evaluate_world"),
            Node(nodes.summarise_world, ["rpt_world_report", REPORT], "rpt_world_summary",
                 name="summarise_world"),
            Node(nodes.plot_world_imitation, ["rpt_world_report", "rpt_world_summary"],
                 "rpt_world_imitation_plot", name="plot_world_imitation"),
        ]
    )
