"""The ``threshold`` pipeline: counts x scores -> change points -> thresholds, plots, report."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipelines.threshold import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Build the pipeline (inputs: prm_concept_frequencies + prm_imitation_scores, or raw_user_scores)."""
    return Pipeline(
        [
            Node(
                nodes.prepare_threshold_inputs,
                inputs=[
                    "prm_concept_frequencies",
                    "prm_imitation_scores",
                    "raw_user_scores",
                    "params:threshold",
                ],
                outputs=[
                    "int_threshold_concepts",
                    "int_threshold_prompts",
                    "out_threshold_rejects",
                    "int_threshold_input_summary",
                ],
                name="prepare_threshold_inputs",
            ),
            Node(
                nodes.fit_imitation_curves,
                inputs=["int_threshold_concepts", "params:threshold.logistic"],
                outputs="int_threshold_curves",
                name="fit_imitation_curves",
            ),
            Node(
                nodes.detect_thresholds,
                inputs=[
                    "int_threshold_concepts",
                    "int_threshold_prompts",
                    "int_threshold_curves",
                    "params:threshold",
                ],
                outputs=["out_thresholds", "out_threshold_bootstrap"],
                name="detect_thresholds",
            ),
            Node(
                nodes.sweep_penalties,
                inputs=[
                    "int_threshold_concepts",
                    "params:threshold.sensitivity",
                    "params:threshold.paper",
                ],
                outputs="out_threshold_sensitivity",
                name="sweep_penalties",
            ),
            Node(
                nodes.plot_threshold_figure,
                inputs=["int_threshold_concepts", "out_thresholds", "int_threshold_curves"],
                outputs=["rpt_threshold_figure", "int_threshold_figure_png"],
                name="plot_threshold_figure",
            ),
            Node(
                nodes.plot_penalty_sensitivity,
                inputs=["out_threshold_sensitivity", "params:threshold.paper"],
                outputs=["rpt_threshold_sensitivity_plot", "int_threshold_sensitivity_png"],
                name="plot_penalty_sensitivity",
            ),
            Node(
                nodes.write_threshold_report,
                inputs=[
                    "int_threshold_input_summary",
                    "out_threshold_rejects",
                    "out_thresholds",
                    "out_threshold_sensitivity",
                    "int_threshold_figure_png",
                    "int_threshold_sensitivity_png",
                    "params:threshold",
                ],
                outputs="rpt_threshold_report",
                name="write_threshold_report",
            ),
        ]
    )
