"""The ``counterfactual`` pipeline: retrain at a dose ladder, read true thresholds, test FIT's."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from imitation_kedro.pipelines.counterfactual import nodes

PROBES = "int_counterfactual_probes"
RETRAINS = "int_counterfactual_retrains"
STORE = "mdl_counterfactual_t2i"
DOSE = "out_counterfactual_dose_response"
REFERENCE = "out_counterfactual_fit_reference"
PROBE_THRESHOLDS = "out_counterfactual_probe_thresholds"
DOMAINS = "out_counterfactual_domain_thresholds"
SCORES, FREQS = "prm_concept_imitation_scores", "prm_concept_frequencies"
THRESHOLD, READOUT = "params:threshold", "params:counterfactual.readout"
MODEL = "params:generation.model"
LADDER = "params:counterfactual.ladder"


def create_pipeline(**kwargs) -> Pipeline:
    """Probes -> one retrain per (level, seed) -> dose-response -> thresholds -> comparison, report."""
    return Pipeline(
        [
            Node(nodes.pick_probe_concepts, ["raw_ground_truth", "raw_world_corpus_plan",
                 "params:counterfactual.probes"], PROBES, name="pick_probe_concepts"),
            Node(nodes.retrain_ladder_models,
                 ["raw_laion_images", "raw_world_corpus_plan", PROBES, "mdl_miniature_clip", STORE,
                  "params:world.seed", "params:world.t2i", LADDER], RETRAINS, name="retrain_ladder_models"),
            Node(nodes.score_dose_response,
                 [RETRAINS, STORE, PROBES, "raw_reference_images", "mdl_miniature_clip",
                  "params:generation", "params:similarity.top_k_refs"], DOSE, name="score_dose_response"),
            Node(nodes.summarise_fit_reference, ["out_thresholds", SCORES, FREQS, THRESHOLD, MODEL], REFERENCE,
                 name="summarise_fit_reference"),
            Node(nodes.read_probe_thresholds, [DOSE, PROBES, REFERENCE, THRESHOLD, READOUT], PROBE_THRESHOLDS,
                 name="read_probe_thresholds"),
            Node(nodes.aggregate_domain_thresholds, [DOSE, PROBE_THRESHOLDS, REFERENCE, THRESHOLD, READOUT],
                 DOMAINS, name="aggregate_domain_thresholds"),
            Node(nodes.compare_with_fit, [DOMAINS, REFERENCE], "out_counterfactual_comparison",
                 name="compare_with_fit"),
            Node(nodes.subsample_fit_concepts, [SCORES, FREQS, THRESHOLD, MODEL,
                 "params:counterfactual.subsample"], "out_counterfactual_subsample",
                 name="subsample_fit_concepts"),
            Node(nodes.plot_dose_response, [DOSE, DOMAINS, REFERENCE, READOUT], "rpt_counterfactual_figure",
                 name="plot_dose_response"),
            Node(nodes.write_counterfactual_report,
                 ["out_counterfactual_comparison", DOMAINS, PROBE_THRESHOLDS, "out_counterfactual_subsample",
                  RETRAINS, READOUT, LADDER], "rpt_counterfactual_report", name="write_counterfactual_report"),
        ]
    )
