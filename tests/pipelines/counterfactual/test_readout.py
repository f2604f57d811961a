"""A planted world with a known answer: dose-responses with a hard step at a chosen count.

The readout (both definitions), the aggregation over probes and seeds, and the comparison with
FIT must recover the step within one ladder level; they must not invent one where none is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.counterfactual import nodes
from imitation_kedro.pipelines.counterfactual.params import ReadoutParams
from imitation_kedro.pipelines.counterfactual.readout import reach_threshold

LADDER = [1, 3, 10, 30, 100, 300, 1000, 3000]
THRESHOLD = ThresholdParams(paper={"penalty": 0.9, "min_size": 1, "jump": 1, "outlier_factor": 4.0})


def planted_dose(step: int, *, probes=6, seeds=(0, 1), prompts=2, low=0.25, high=0.9, sd=0.03, seed=0):
    """Per-prompt scores: ``low`` below ``step``, ``high`` at and above it, Gaussian noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for domain in ("style", "motif"):
        for p in range(probes):
            for level in LADDER:
                for s in seeds:
                    for q in range(prompts):
                        base = high if level >= step else low
                        rows.append({"domain": domain, "concept": f"{domain} probe {p}", "level": level,
                                     "train_seed": s, "prompt_id": q, "score": base + rng.normal(0, sd),
                                     "n_images": 4, "n_refs": 10, "model_key": f"l{level}-s{s}-x"})
    return pd.DataFrame(rows)


def probes_of(dose: pd.DataFrame) -> pd.DataFrame:
    names = dose[["domain", "concept"]].drop_duplicates().reset_index(drop=True)
    return names.assign(true_image_count=100, n_source_images=50, bin=range(len(names)))


def fit_reference(threshold: float, mean_after: float = 0.9, sd_after: float = 0.05) -> pd.DataFrame:
    return pd.DataFrame([
        {"domain": d, "fit_method": "paper", "fit_status": "threshold", "fit_threshold": threshold,
         "fit_ci_low": threshold / 2, "fit_ci_high": threshold * 2, "mean_after": mean_after,
         "sd_after": sd_after, "n_concepts": 50}
        for d in ("style", "motif")
    ])


def run_readout(dose: pd.DataFrame, reference: pd.DataFrame, **readout):
    params = ReadoutParams(n_resamples=200, **readout)
    probes = nodes.read_probe_thresholds(dose, probes_of(dose), reference, THRESHOLD, params)
    domains = nodes.aggregate_domain_thresholds(dose, probes, reference, THRESHOLD, params)
    return probes, domains


def within_one_level(value: float, step: int) -> bool:
    i = LADDER.index(step)
    return LADDER[max(0, i - 1)] <= value <= LADDER[min(len(LADDER) - 1, i + 1)]


@pytest.mark.parametrize("step", [10, 100, 1000])
def test_a_planted_step_is_recovered_within_one_ladder_level(step):
    dose = planted_dose(step)
    probes, domains = run_readout(dose, fit_reference(step))
    assert (probes["status"] == "threshold").all(), probes
    # each probe on its own: noise may push one reach reading past a dip; the domain value may not
    assert probes["threshold"].map(lambda v: within_one_level(v, step)).mean() >= 0.9, probes
    assert len(domains) == 6  # 2 domains x (pelt, reach, pelt_pooled)
    for row in domains.itertuples(index=False):
        assert within_one_level(row.threshold, step), row
        assert row.ci_low <= row.threshold <= row.ci_high
        assert row.ci_low <= step <= row.ci_high, row
        assert row.found_rate == 1.0 and row.n_probes == 6 and row.n_seeds == 2


def test_the_comparison_says_held_when_fit_is_right_and_not_when_it_is_off():
    dose = planted_dose(100)
    _, domains = run_readout(dose, fit_reference(100))
    right = nodes.compare_with_fit(domains, fit_reference(100))
    assert right["fit_in_cf_interval"].all() and right["cf_in_fit_interval"].all()
    assert right["verdict"].str.startswith("held:").all()
    assert np.allclose(right["ratio"], 1.0) and np.allclose(right["difference"], 0.0)
    off = nodes.compare_with_fit(domains, fit_reference(3000))
    assert not off["fit_in_cf_interval"].any() and not off["cf_in_fit_interval"].any()
    assert off["verdict"].str.contains("over-estimates").all()
    assert np.allclose(off["ratio"], 30.0)


def test_a_flat_curve_has_no_pelt_threshold_and_never_reaches_fits_level():
    dose = planted_dose(10**6, low=0.3)  # the step lies above the ladder: nothing changes
    probes, domains = run_readout(dose, fit_reference(100, mean_after=0.9, sd_after=0.05))
    pelt = probes[probes["definition"] == "pelt"]
    reach = probes[probes["definition"] == "reach"]
    pooled = domains[domains["definition"] == "pelt_pooled"]
    assert pooled["threshold"].isna().all() and (pooled["found_rate"] == 0).all()
    assert (pelt["status"] == "no_change").all() and pelt["threshold"].isna().all()
    assert (reach["status"] == "not_reached").all() and np.isinf(reach["threshold"]).all()
    assert domains.set_index(["domain", "definition"]).loc[("style", "reach"), "threshold"] == math.inf
    verdicts = nodes.compare_with_fit(domains, fit_reference(100))
    assert verdicts[verdicts["definition"] == "reach"]["verdict"].str.contains("never reach").all()


def test_without_a_fit_change_the_reach_target_is_the_probes_own_midpoint():
    dose = planted_dose(30)
    reference = fit_reference(math.nan, mean_after=math.nan).assign(fit_status="no_threshold")
    probes, _ = run_readout(dose, reference)
    reach = probes[probes["definition"] == "reach"]
    assert (reach["reach_reference"] == "own_midpoint").all()
    assert reach["threshold"].map(lambda v: within_one_level(v, 30)).all()


def test_reach_needs_the_curve_to_stay_up():
    levels = np.repeat([1.0, 10.0, 100.0, 1000.0], 2)
    scores = np.asarray([0.2, 0.2, 0.9, 0.9, 0.2, 0.2, 0.9, 0.9])  # up at 10, down at 100
    assert reach_threshold(levels, scores, 0.8) == 1000.0


def test_the_readout_is_deterministic():
    dose = planted_dose(100, sd=0.2)
    a = run_readout(dose, fit_reference(100))
    b = run_readout(dose.sample(frac=1.0, random_state=3), fit_reference(100))
    pd.testing.assert_frame_equal(a[1], b[1])
