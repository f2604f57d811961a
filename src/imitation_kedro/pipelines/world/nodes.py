"""All ``world`` node functions (implemented in small modules; torch stays inside functions)."""

from imitation_kedro.pipelines.world.concepts import plan_concepts, render_reference_images
from imitation_kedro.pipelines.world.corpus import (
    count_ground_truth,
    plan_corpus,
    render_corpus_images,
    shard_laion_captions,
)
from imitation_kedro.pipelines.world.report import (
    evaluate_world,
    plot_world_imitation,
    summarise_world,
)
from imitation_kedro.pipelines.world.training import (
    decode_training_images,
    train_miniature_clip,
    train_miniature_t2i,
)

__all__ = [
    "count_ground_truth",
    "decode_training_images",
    "evaluate_world",
    "plan_concepts",
    "plan_corpus",
    "plot_world_imitation",
    "render_corpus_images",
    "render_reference_images",
    "shard_laion_captions",
    "summarise_world",
    "train_miniature_clip",
    "train_miniature_t2i",
]
