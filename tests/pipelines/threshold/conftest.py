"""Small fixtures that follow docs/contracts.md (prm_concept_frequencies, prm_imitation_scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.threshold_params import ThresholdParams


def contract_tables(
    counts, concept_scores, *, domain="style", models=("m1",), n_prompts=3, prompt_sd=0.0, seed=0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract-shaped frequencies and per-prompt scores for the given per-concept values."""
    rng = np.random.default_rng(seed)
    names = [f"concept {i:03d}" for i in range(len(counts))]
    freq = pd.DataFrame(
        {
            "concept": names,
            "domain": domain,
            "captions": np.asarray(counts, int) + 5,
            "sampled": 10,
            "downloaded": 9,
            "verified": 8,
            "estimate": np.asarray(counts, float),
            "ci_low": np.asarray(counts, float) * 0.8,
            "ci_high": np.asarray(counts, float) * 1.2,
        }
    )
    rows = []
    for model in models:
        for name, s in zip(names, concept_scores, strict=True):
            noise = rng.normal(0, prompt_sd, n_prompts)
            noise -= noise.mean()  # the concept's mean score stays exactly `s`
            for p in range(n_prompts):
                rows.append(
                    {
                        "concept": name,
                        "domain": domain,
                        "model": model,
                        "prompt_id": p,
                        "score": float(s + noise[p]),
                        "score_var": 0.0,
                        "n_generated": 4,
                        "n_used": 4,
                        "n_refs": 3,
                        "ref_source": "laion",
                        "zero_face_rate": 0.0,
                    }
                )
    return freq, pd.DataFrame(rows)


@pytest.fixture
def tables():
    return contract_tables


@pytest.fixture
def fast_params():
    """Small but real settings (tests must stay quick on 2 shared cores)."""
    return ThresholdParams(
        min_concepts=6,
        segmented={"n_permutations": 99},
        bootstrap={"n_resamples": 30},
        sensitivity={"n_penalties": 5},
        embed_figures=False,
    )


@pytest.fixture
def step_data():
    """40 concepts, a 0.4 step (8 noise SDs) between rank 19 and rank 20 (count 300 -> 320)."""
    rng = np.random.default_rng(3)
    counts = np.arange(40) * 10 + 110  # 110 ... 500, rank 20 has count 310
    scores = np.where(np.arange(40) >= 20, 0.6, 0.2) + rng.normal(0, 0.05, 40)
    return counts, scores
