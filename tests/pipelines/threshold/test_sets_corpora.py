"""Issue 17: one threshold per (concept_set, model, method), each model read on its own
pre-training corpus (FIT §3.6, §7.1: SD1.x on LAION-2B-en, SD2.1 on LAION-5B), and concepts
with captions but no usable image kept at their raw count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.threshold_params import ThresholdParams
from imitation_kedro.pipelines.threshold.inputs import ThresholdInputError, prepare_tables
from imitation_kedro.pipelines.threshold.nodes import detect_thresholds, fit_imitation_curves
from tests.pipelines.threshold.conftest import contract_tables

N = 24
STEP = np.r_[np.full(N // 2, 0.1), np.full(N // 2, 0.9)]
PAPER = ThresholdParams(
    methods=["paper"], bootstrap={"n_resamples": 0},
    model_corpus={"sd15": "laion2b_en", "sd21": "laion5b"},
)


def _two_corpora(scale_5b: float = 10.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = np.arange(1, N + 1) * 100
    freq, scores = contract_tables(counts, STEP, domain="faces", models=("sd15", "sd21"))
    freq["concept_set"] = np.where(np.arange(N) % 2 == 0, "celebrities", "politicians")
    five = freq.assign(
        corpus="laion5b", estimate=freq["estimate"] * scale_5b, captions_5b=freq["captions"] * 10
    )
    return pd.concat([freq.assign(corpus="laion2b_en"), five], ignore_index=True), scores


def test_each_model_reads_its_own_corpus():
    """sd21 joins the LAION-5B estimates, sd15 the LAION-2B-en ones. Today every model joined
    the one frequency table (and two corpora in it were an error)."""
    freq, scores = _two_corpora()
    concepts, _, rejects, _ = prepare_tables(freq, scores, None, PAPER)
    assert rejects.empty
    by = concepts.set_index(["model", "concept"])["count"]
    two = freq[freq["corpus"] == "laion2b_en"].set_index("concept")["estimate"]
    assert (by["sd15"] == two.reindex(by["sd15"].index)).all()
    assert (by["sd21"] == 10 * two.reindex(by["sd21"].index)).all()
    curves = fit_imitation_curves(concepts, False)
    thresholds, _ = detect_thresholds(concepts, concepts.iloc[:0], curves, PAPER)
    found = thresholds.set_index(["concept_set", "model"])["threshold"]
    assert found[("celebrities", "sd15")] == 1300.0  # the first high-scoring celebrity
    assert found[("celebrities", "sd21")] == 13000.0


def test_a_model_whose_corpus_was_not_estimated_is_named():
    freq, scores = _two_corpora()
    only_2b = freq[freq["corpus"] == "laion2b_en"]
    with pytest.raises(ThresholdInputError, match=r"'sd21'.*laion5b.*frequency.estimate.corpora"):
        prepare_tables(only_2b, scores, None, PAPER)


def test_one_threshold_row_per_concept_set_model_and_method():
    """celebrities and politicians (both faces) get separate change-point runs; today they were
    pooled by domain."""
    freq, scores = _two_corpora()
    params = PAPER.model_copy(update={"methods": ["paper", "segmented"], "min_concepts": 10})
    concepts, prompts, _, _ = prepare_tables(freq, scores, None, params)
    thresholds, _ = detect_thresholds(
        concepts, prompts, fit_imitation_curves(concepts, False), params
    )
    keys = thresholds[["concept_set", "domain", "model", "method"]].values.tolist()
    assert sorted(keys) == sorted(
        [s, "faces", m, k]
        for s in ("celebrities", "politicians")
        for m in ("sd15", "sd21")
        for k in ("paper", "segmented")
    )
    assert (thresholds["n_concepts"] == N // 2).all()


def test_concept_kept_at_raw_count_zero_stays_in_the_sequence():
    """A concept with captions but no usable image has estimate 0 (status no_images): it is a
    point of the sequence at count 0, not a NaN reject."""
    freq, scores = contract_tables(np.arange(N) * 10, STEP)
    freq.loc[0, "estimate"] = 0.0
    freq["status"] = np.where(freq.index == 0, "no_images", "ok")
    concepts, _, rejects, _ = prepare_tables(freq, scores, None, ThresholdParams())
    assert rejects.empty and concepts.iloc[0]["concept"] == "concept 000"
    assert concepts.iloc[0]["count"] == 0.0 and len(concepts) == N
