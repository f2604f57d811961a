"""Wiring of the ``backdoor`` pipeline (no torch at import)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipeline_registry import PAPER_ENVS, current_env

from . import nodes

# On the miniature world the study reads the world's datasets by their own names (one lineage,
# world -> backdoor); at paper scale (conf/paper, conf/rehearsal) its own entries: CC3M/CC6M,
# the ImageNet class file, ImageNet-1K val.
WORLD_INPUTS = {
    "raw_backdoor_pairs": "raw_laion_images",
    "raw_backdoor_classes": "raw_concepts",
    "raw_backdoor_eval": "raw_reference_images",
}


def create_pipeline(**kwargs) -> Pipeline:
    """pairs -> poison -> EDA views -> pre-train per objective -> CleanCLIP grid -> select -> report."""
    if current_env() in PAPER_ENVS:
        return _pipeline("raw_backdoor_pairs", "raw_backdoor_classes")
    # miniature: the FIT world's pairs, or the backdoor's own paper-regime world (regime.py)
    source = Node(
        nodes.regime_pairs,
        [
            "raw_backdoor_pairs",
            "raw_backdoor_classes",
            "params:backdoor.regime",
            "params:backdoor.data",
        ],
        ["int_backdoor_source_pairs", "int_backdoor_source_classes"],
        name="regime_pairs",
    )
    pipe = Pipeline([source]) + _pipeline(
        "int_backdoor_source_pairs", "int_backdoor_source_classes"
    )
    return Pipeline(pipe, inputs=WORLD_INPUTS)


def _pipeline(pairs: str, classes: str) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.prepare_pairs,
                [
                    pairs,
                    classes,
                    "raw_backdoor_eval",
                    "params:backdoor.data",
                    "params:backdoor.attack",
                    "params:backdoor.eval",
                ],
                ["int_backdoor_pairs", "int_backdoor_rejects", "int_backdoor_classes"],
                name="prepare_pairs",
            ),
            Node(
                nodes.poison_corpus,
                [
                    "int_backdoor_pairs",
                    "int_backdoor_classes",
                    "params:backdoor.attack",
                    "params:backdoor.data",
                ],
                [
                    "int_backdoor_poisoned_pairs",
                    "prm_backdoor_poison_manifest",
                    "int_backdoor_cleaning_pairs",
                ],
                name="poison_corpus",
            ),
            Node(
                nodes.augment_texts,
                ["int_backdoor_poisoned_pairs", "params:backdoor.augment"],
                "feat_backdoor_caption_views",
                name="augment_texts",
            ),
            Node(
                nodes.pretrain_models,
                [
                    "int_backdoor_poisoned_pairs",
                    "feat_backdoor_caption_views",
                    "int_backdoor_classes",
                    "int_backdoor_pretrain_epochs",
                    "params:backdoor",
                ],
                ["mdl_backdoor_pretrained", "out_backdoor_pretrain_metrics"],
                name="pretrain_models",
            ),
            Node(
                nodes.clean_models,
                [
                    "mdl_backdoor_pretrained",
                    "int_backdoor_cleaning_pairs",
                    "int_backdoor_poisoned_pairs",
                    "feat_backdoor_caption_views",
                    "int_backdoor_classes",
                    "params:backdoor",
                ],
                ["out_backdoor_cleaning_results", "mdl_backdoor_cleaned"],
                name="clean_models",
            ),
            Node(
                nodes.select_models,
                ["out_backdoor_cleaning_results", "params:backdoor.select"],
                "out_backdoor_selection",
                name="select_models",
            ),
            Node(
                nodes.estimate_effect,
                [
                    "out_backdoor_pretrain_metrics",
                    "out_backdoor_selection",
                    "params:backdoor.select",
                ],
                "out_backdoor_effect",
                name="estimate_effect",
            ),
            Node(
                nodes.plot_accuracy_vs_asr,
                [
                    "out_backdoor_cleaning_results",
                    "params:backdoor.select",
                    "params:backdoor.attack",
                ],
                "rpt_backdoor_accuracy_vs_asr",
                name="plot_accuracy_vs_asr",
            ),
            Node(
                nodes.write_report,
                [
                    "int_backdoor_classes",
                    "prm_backdoor_poison_manifest",
                    "out_backdoor_pretrain_metrics",
                    "out_backdoor_cleaning_results",
                    "out_backdoor_selection",
                    "out_backdoor_effect",
                    "params:backdoor.attack",
                    "params:backdoor.pretrain",
                    "params:backdoor.clean",
                    "params:backdoor.select",
                    "params:backdoor.data",
                ],
                "rpt_backdoor_report",
                name="write_report",
            ),
        ]
    )
