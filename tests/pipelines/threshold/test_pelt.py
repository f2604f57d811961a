"""The paper's PELT: equality with ruptures and the paper's reading of predict()."""

from __future__ import annotations

import numpy as np
import pytest

from imitation_kedro.pipelines.threshold.pelt import pelt_l2, read_paper, ruptures_breakpoints


def _penalised_cost(y, bkps, pen):
    start, total = 0, 0.0
    for end in bkps:
        seg = y[start:end]
        total += float(((seg - seg.mean()) ** 2).sum()) + pen
        start = end
    return total


@pytest.mark.parametrize("seed", range(6))
def test_numpy_twin_equals_ruptures_on_random_sequences(seed):
    rng = np.random.default_rng(seed)
    for _ in range(12):
        n = int(rng.integers(2, 70))
        y = (
            rng.normal(0, rng.uniform(0.05, 1.0), n)
            + np.repeat(rng.normal(0, 1, 3), -(-n // 3))[:n]
        )
        for pen in (0.01, 0.1, 0.9, 5.0):
            for min_size, jump in ((1, 1), (2, 1), (3, 2), (1, 3)):
                if n < 2 * min_size:
                    continue
                assert pelt_l2(y, pen, min_size, jump) == ruptures_breakpoints(
                    y, pen, min_size, jump
                )


def test_twin_is_equally_optimal_on_tied_values():
    rng = np.random.default_rng(11)
    for _ in range(40):
        y = np.round(rng.normal(0, 1, int(rng.integers(3, 40))), 1)
        a, b = pelt_l2(y, 0.5), ruptures_breakpoints(y, 0.5)
        assert _penalised_cost(y, a, 0.5) == pytest.approx(_penalised_cost(y, b, 0.5), abs=1e-9)


def test_predict_reading_maps_to_the_paper_threshold_112():
    """FIT reference section 6 check: the SD1.1 classical threshold 112 is the count *at* cp.

    ruptures returns exclusive segment ends: [cp, ..., n]. cp is the 0-based index of the first
    concept of the second segment, so the threshold is counts_sorted[cp] (here 112, held by two
    artists; rule F9 puts "herbert gustave schmalz" first). Reading cp - 1 would give 105.
    """
    names = ["a", "b", "c", "d", "e", "herbert gustave schmalz", "magnus enckell", "x", "y", "z"]
    counts = np.array([3, 20, 57, 98, 105, 112, 112, 360, 391, 848], dtype=float)
    scores = np.array([0.10, 0.11, 0.09, 0.10, 0.12, 0.50, 0.52, 0.49, 0.51, 0.50])
    bkps = ruptures_breakpoints(scores, 0.01)
    assert bkps == [5, 10]
    reading = read_paper(counts, scores, names, bkps, outlier_factor=4.0)
    assert reading.cp == 5 and reading.threshold == 112
    assert names[reading.cp] == "herbert gustave schmalz"
    assert reading.mean_before == pytest.approx(0.104)
    assert reading.mean_after == pytest.approx(0.504)
    assert reading.second_cp is None


def test_second_change_point_and_outliers():
    counts = np.arange(12, dtype=float) * 100.4
    scores = np.array([0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0])
    names = [f"c{i}" for i in range(12)]
    bkps = ruptures_breakpoints(scores, 0.05)
    reading = read_paper(counts, scores, names, bkps, outlier_factor=4.0)
    assert reading.breakpoints == [2, 3, 6, 9]
    assert reading.cp == 2 and reading.threshold == round(200.8)
    assert reading.second_cp == 3 and reading.second_threshold == round(301.2)
    assert reading.outliers == []
    # A lone high score before the change, not worth two change points at this penalty.
    scores = np.array([0.05] * 2 + [0.9] + [0.05] * 7 + [0.6] * 8)
    counts = np.arange(18, dtype=float)
    reading = read_paper(
        counts,
        scores,
        [f"c{i}" for i in range(18)],
        ruptures_breakpoints(scores, 0.5),
        outlier_factor=4.0,
    )
    assert reading.cp == 10 and reading.outliers == ["c2"]


def test_no_change_point_reads_as_none():
    reading = read_paper(
        np.arange(5.0),
        np.full(5, 0.3),
        list("abcde"),
        ruptures_breakpoints(np.full(5, 0.3), 0.9),
        4.0,
    )
    assert reading.cp is None and reading.threshold is None
