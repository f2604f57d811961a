"""The segmented method: closed-form F equals statsmodels, admissible breaks, linear form."""

from __future__ import annotations

import numpy as np
import pytest

from imitation_kedro.pipelines.threshold.segmented import (
    _ols_at_break,
    admissible_breaks,
    best_break,
    f_statistics,
    segmented_test,
)


@pytest.mark.parametrize("form", ["constant", "linear_log"])
def test_closed_form_f_equals_statsmodels_at_every_break(form):
    rng = np.random.default_rng(0)
    counts = np.sort(rng.integers(0, 5000, 25)).astype(float)
    y = rng.normal(0, 1, 25)
    ks = admissible_breaks(counts, 3)
    fast = f_statistics(counts, y, ks, form)
    slow = np.array([_ols_at_break(counts, y, int(k), form)[2] for k in ks])
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


def test_breaks_never_split_equal_counts_and_respect_min_segment():
    counts = np.array([1, 2, 2, 2, 5, 6, 7, 7, 9, 10], dtype=float)
    assert admissible_breaks(counts, 2).tolist() == [4, 5, 6, 8]
    assert admissible_breaks(counts, 5).tolist() == [5]
    assert admissible_breaks(np.full(6, 3.0), 1).size == 0


def test_linear_form_finds_a_break_in_slope():
    counts = np.round(np.geomspace(1, 1e5, 60))
    x = np.log10(1 + counts)
    rng = np.random.default_rng(4)
    y = np.where(
        np.arange(60) < 30, 0.1 + 0.01 * x, 0.1 + 0.01 * x + 0.15 * (x - x[30])
    ) + rng.normal(0, 0.01, 60)
    result = segmented_test(counts, y, 3, "linear_log", 199, seed=1)
    assert result.p_value < 0.01
    assert abs(result.cp - 30) <= 2


def test_step_estimate_and_determinism(step_data):
    counts, scores = step_data
    a = segmented_test(counts, scores, 2, "constant", 99, seed=5)
    b = segmented_test(counts, scores, 2, "constant", 99, seed=5)
    assert a == b
    assert a.cp == 20 and a.p_value == pytest.approx(1 / 100)
    assert a.jump == pytest.approx(a.mean_after - a.mean_before)
    assert 0.3 < a.jump < 0.5 and a.jump_se < 0.05
    assert best_break(counts, scores, 2, "constant") == 20


def test_all_equal_scores_or_counts_give_no_break():
    assert segmented_test(np.arange(10.0), np.full(10, 0.3), 2, "constant", 99, 0).cp is None
    assert segmented_test(np.full(10, 4.0), np.arange(10.0), 2, "constant", 99, 0).cp is None
