"""The ``threshold`` pipeline: counts x scores -> change points -> thresholds, plots, report.

Two entries into the same nodes: ``create_pipeline`` reads the FIT chain's tables
(``prm_concept_frequencies``, ``prm_imitation_scores``); ``create_user_table_pipeline`` reads a
user's own table (``raw_user_scores``), registered as ``threshold_user_table``.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipelines.threshold import nodes

PREPARED = [
    "mdl_in_threshold_concepts",
    "mdl_in_threshold_prompts",
    "out_threshold_rejects",
    "mdl_in_threshold_input_summary",
]


def create_pipeline(**kwargs) -> Pipeline:
    """Thresholds of the FIT chain's counts and imitation scores."""
    entry = Node(
        nodes.prepare_threshold_inputs,
        inputs=["prm_concept_frequencies", "prm_imitation_scores", "params:threshold"],
        outputs=PREPARED,
        name="prepare_threshold_inputs",
    )
    return Pipeline([entry, *_detection_nodes()])


def create_user_table_pipeline(**kwargs) -> Pipeline:
    """Thresholds of a user's own table (columns concept, count, score[, domain, model, prompt_id])."""
    entry = Node(
        nodes.prepare_user_table_inputs,
        inputs=["raw_user_scores", "params:threshold"],
        outputs=PREPARED,
        name="prepare_user_table_inputs",
    )
    return Pipeline([entry, *_detection_nodes()])


def _detection_nodes() -> list[Node]:
    """Curves, change points, penalty sweep, plots and report of the prepared tables."""
    return [
        Node(
            nodes.fit_imitation_curves,
            inputs=["mdl_in_threshold_concepts", "params:threshold.logistic"],
            outputs="mdl_in_threshold_curves",
            name="fit_imitation_curves",
        ),
        Node(
            nodes.detect_thresholds,
            inputs=[
                "mdl_in_threshold_concepts",
                "mdl_in_threshold_prompts",
                "mdl_in_threshold_curves",
                "params:threshold",
            ],
            outputs=["out_thresholds", "out_threshold_bootstrap"],
            name="detect_thresholds",
        ),
        Node(
            nodes.summarise_threshold_metrics,
            inputs="out_thresholds",
            outputs="out_threshold_metrics",
            name="summarise_threshold_metrics",
        ),
        Node(
            nodes.sweep_penalties,
            inputs=[
                "mdl_in_threshold_concepts",
                "params:threshold.sensitivity",
                "params:threshold.paper",
            ],
            outputs="out_threshold_sensitivity",
            name="sweep_penalties",
        ),
        Node(
            nodes.plot_threshold_figure,
            inputs=["mdl_in_threshold_concepts", "out_thresholds", "mdl_in_threshold_curves"],
            outputs=["rpt_threshold_figure", "rpt_threshold_figure_png"],
            name="plot_threshold_figure",
        ),
        Node(
            nodes.plot_penalty_sensitivity,
            inputs=["out_threshold_sensitivity", "params:threshold.paper"],
            outputs=["rpt_threshold_sensitivity_plot", "rpt_threshold_sensitivity_png"],
            name="plot_penalty_sensitivity",
        ),
        Node(
            nodes.write_threshold_report,
            inputs=[
                "mdl_in_threshold_input_summary",
                "out_threshold_rejects",
                "out_thresholds",
                "out_threshold_sensitivity",
                "mdl_in_threshold_concepts",
                "raw_threshold_world_truth",
                "params:threshold",
            ],
            outputs="rpt_threshold_report",
            name="write_threshold_report",
        ),
        Node(
            nodes.render_threshold_report_html,
            inputs=[
                "rpt_threshold_report",
                "rpt_threshold_figure_png",
                "rpt_threshold_sensitivity_png",
                "params:threshold",
            ],
            outputs="rpt_threshold_report_html",
            name="render_threshold_report_html",
        ),
    ]
