"""Every node of the ``counterfactual`` pipeline; the algorithms live in the step modules.

Settings that must match the chain being checked are read from that chain's blocks:
``params:world.t2i`` (the retraining recipe), ``params:generation`` and
``params:similarity.top_k_refs`` (generation and scoring), ``params:threshold.paper`` and
``params:_typed(threshold).count_column`` (FIT's detector and x-axis).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.generation_params import GenerationParams
from imitation_kedro.core.params import parse_params
from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.models.miniature_t2i_training import T2IParams
from imitation_kedro.pipelines.counterfactual import compare as _compare
from imitation_kedro.pipelines.counterfactual import figures as _figures
from imitation_kedro.pipelines.counterfactual import probes as _probes
from imitation_kedro.pipelines.counterfactual import readout as _readout
from imitation_kedro.pipelines.counterfactual import report as _report
from imitation_kedro.pipelines.counterfactual import retrain as _retrain
from imitation_kedro.pipelines.counterfactual import scoring as _scoring
from imitation_kedro.pipelines.counterfactual.params import (
    LadderParams,
    ProbeParams,
    ReadoutParams,
    SubsampleParams,
)


def _typed(threshold: ThresholdParams | Mapping[str, Any]) -> ThresholdParams:
    """The block as its model (a runner without Kedro's parameter validation passes a mapping)."""
    if isinstance(threshold, ThresholdParams):
        return threshold
    return parse_params(ThresholdParams, dict(threshold), "threshold")


def _paper(threshold: ThresholdParams) -> dict[str, Any]:
    """The threshold pipeline's PELT settings, as the detector takes them."""
    return _typed(threshold).paper.to_dict()


def pick_probe_concepts(raw_ground_truth: pd.DataFrame, raw_world_corpus_plan: pd.DataFrame, probes: ProbeParams) -> pd.DataFrame:
    """``int_counterfactual_probes``: per domain, probes spread over the count range (seeded)."""
    return _probes.pick_probes(raw_ground_truth, raw_world_corpus_plan, probes.per_domain,
                               probes.min_source_images, probes.seed)


def retrain_ladder_models(  # noqa: PLR0913
    raw_laion_images: Mapping[str, Any],
    raw_world_corpus_plan: pd.DataFrame,
    int_counterfactual_probes: pd.DataFrame,
    mdl_miniature_clip: Any,
    mdl_counterfactual_t2i: Any,
    world_seed: int,
    world_t2i: T2IParams,
    ladder: LadderParams,
) -> pd.DataFrame:
    """``int_counterfactual_retrains``: one model per (level, seed), trained or found in the store."""
    return _retrain.retrain_ladder(
        raw_laion_images, raw_world_corpus_plan, int_counterfactual_probes, mdl_miniature_clip,
        mdl_counterfactual_t2i, world_seed, _retrain.as_dict(world_t2i), ladder.levels, ladder.train_seeds,
    )


def score_dose_response(  # noqa: PLR0913
    int_counterfactual_retrains: pd.DataFrame,
    mdl_counterfactual_t2i: Any,
    int_counterfactual_probes: pd.DataFrame,
    raw_reference_images: pd.DataFrame,
    mdl_miniature_clip: Any,
    generation: GenerationParams,
    top_k_refs: int,
) -> pd.DataFrame:
    """``out_counterfactual_dose_response``: FIT's score per (probe, level, seed, prompt)."""
    return _scoring.score_ladder(
        int_counterfactual_retrains, mdl_counterfactual_t2i, int_counterfactual_probes,
        raw_reference_images, mdl_miniature_clip, _retrain.as_dict(generation), {"top_k_refs": top_k_refs},
    )


def summarise_fit_reference(
    out_thresholds: pd.DataFrame, prm_concept_imitation_scores: pd.DataFrame,
    prm_concept_frequencies: pd.DataFrame, threshold: ThresholdParams, model: str,
) -> pd.DataFrame:
    """``out_counterfactual_fit_reference``: FIT's thresholds, intervals and after-change levels."""
    concepts = _compare.concept_table(prm_concept_imitation_scores, prm_concept_frequencies,
                                      _typed(threshold).count_column, model)
    return _compare.fit_reference(out_thresholds, concepts, model)


def _fit_ref(reference: pd.DataFrame, domain: str, method: str) -> dict[str, Any] | None:
    rows = reference[(reference["domain"] == domain) & (reference["fit_method"] == method)]
    return rows.iloc[0].to_dict() if len(rows) else None


def read_probe_thresholds(
    out_counterfactual_dose_response: pd.DataFrame, int_counterfactual_probes: pd.DataFrame,
    out_counterfactual_fit_reference: pd.DataFrame, threshold: ThresholdParams, readout: ReadoutParams,
) -> pd.DataFrame:
    """``out_counterfactual_probe_thresholds``: each probe's threshold, PELT and reach readings."""
    curves = _scoring.probe_curves(out_counterfactual_dose_response)
    paper = _paper(threshold)
    rows = []
    for p in int_counterfactual_probes.itertuples(index=False):
        ref = _fit_ref(out_counterfactual_fit_reference, p.domain, readout.fit_method)
        curve = curves[curves["concept"] == p.concept]
        for row in _readout.read_probe(curve, ref, paper, readout.reach_noise_k):
            rows.append({"domain": p.domain, "concept": p.concept, "true_image_count": p.true_image_count, **row})
    return pd.DataFrame(rows, columns=_readout.PROBE_THRESHOLD_COLUMNS)


def aggregate_domain_thresholds(
    out_counterfactual_dose_response: pd.DataFrame, out_counterfactual_probe_thresholds: pd.DataFrame,
    out_counterfactual_fit_reference: pd.DataFrame, threshold: ThresholdParams, readout: ReadoutParams,
) -> pd.DataFrame:
    """``out_counterfactual_domain_thresholds``: geometric median over probes, bootstrap interval."""
    curves = _scoring.probe_curves(out_counterfactual_dose_response)
    paper = _paper(threshold)
    rows = []
    for domain, probes in out_counterfactual_probe_thresholds.groupby("domain", sort=True):
        dom = curves[curves["domain"] == domain]
        per = {c: g for c, g in dom.groupby("concept", sort=True)}
        ref = _fit_ref(out_counterfactual_fit_reference, str(domain), readout.fit_method)
        draws = _readout.bootstrap_domain(per, ref, paper, readout.reach_noise_k, readout.n_resamples,
                                          readout.seed, str(domain))
        n_seeds = int(dom["train_seed"].nunique())
        for d in _readout.DEFINITIONS:
            values = probes[probes["definition"] == d]["threshold"].to_numpy(dtype=float)
            rows.append(_readout.domain_row(str(domain), d, values, draws[d], readout.level, n_seeds))
        pooled = np.asarray([_readout.pooled_threshold(dom, paper)])
        rows.append({**_readout.domain_row(str(domain), _readout.POOLED, pooled, draws[_readout.POOLED],
                                           readout.level, n_seeds), "n_probes": len(per)})
    return pd.DataFrame(rows, columns=_readout.DOMAIN_THRESHOLD_COLUMNS)


def compare_with_fit(out_counterfactual_domain_thresholds: pd.DataFrame, out_counterfactual_fit_reference: pd.DataFrame) -> pd.DataFrame:
    """``out_counterfactual_comparison``: difference, ratio and interval inclusion per domain."""
    return _compare.comparison(out_counterfactual_domain_thresholds, out_counterfactual_fit_reference)


def subsample_fit_concepts(  # noqa: PLR0913
    prm_concept_imitation_scores: pd.DataFrame, prm_concept_frequencies: pd.DataFrame,
    threshold: ThresholdParams, model: str, subsample: SubsampleParams,
) -> pd.DataFrame:
    """``out_counterfactual_subsample``: FIT's paper reading on seeded subsamples of its concepts."""
    concepts = _compare.concept_table(prm_concept_imitation_scores, prm_concept_frequencies,
                                      _typed(threshold).count_column, model)
    return _compare.subsample_thresholds(concepts, _paper(threshold), subsample.fractions,
                                         subsample.draws, subsample.seed)


def plot_dose_response(
    out_counterfactual_dose_response: pd.DataFrame, out_counterfactual_domain_thresholds: pd.DataFrame,
    out_counterfactual_fit_reference: pd.DataFrame, readout: ReadoutParams,
) -> Any:
    """``rpt_counterfactual_figure``: probe curves with FIT's threshold and interval drawn on them."""
    return _figures.dose_response_figure(
        _scoring.probe_curves(out_counterfactual_dose_response), out_counterfactual_domain_thresholds,
        out_counterfactual_fit_reference, readout.fit_method,
    )


def write_counterfactual_report(  # noqa: PLR0913
    out_counterfactual_comparison: pd.DataFrame, out_counterfactual_domain_thresholds: pd.DataFrame,
    out_counterfactual_probe_thresholds: pd.DataFrame, out_counterfactual_subsample: pd.DataFrame,
    int_counterfactual_retrains: pd.DataFrame, readout: ReadoutParams, ladder: LadderParams,
) -> str:
    """``rpt_counterfactual_report``: the verdict per domain, then the tables behind it."""
    return _report.build_report(
        out_counterfactual_comparison, out_counterfactual_domain_thresholds,
        out_counterfactual_probe_thresholds, out_counterfactual_subsample, int_counterfactual_retrains,
        readout.fit_method, list(ladder.levels),
    )

