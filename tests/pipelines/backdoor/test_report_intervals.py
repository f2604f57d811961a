"""The report's intervals (statsmodels): exact values, bounds, too few seeds, markdown tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from imitation_kedro.pipelines.backdoor.intervals import (
    CHANGE,
    FRACTION,
    markdown_table,
    seed_ci,
    t_interval,
    welch_interval,
    wilson,
)

Z = stats.norm.ppf(0.975)


def test_intervals_match_hand_values():
    lo, hi = wilson(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson(1.0, 85)  # all 85 non-target images flipped: lower bound n / (n + z^2)
    assert hi == 1.0 and lo == pytest.approx(85 / (85 + Z**2), abs=1e-9)
    assert np.isnan(wilson(0.5, 0)).all()
    mean, lo, hi = t_interval(np.array([1.0, 2.0, 3.0]))  # t(0.975, 2) = 4.3027
    assert mean == 2.0 and hi - mean == pytest.approx(4.3027 / np.sqrt(3), abs=1e-4)
    diff, lo, hi = welch_interval(np.array([3.0, 4.0, 5.0]), np.array([1.0, 2.0, 3.0]))
    # equal variances and sizes: Welch = pooled t with 4 dof, se = sqrt(2/3)
    assert diff == 2.0 and hi - diff == pytest.approx(2.7764 * np.sqrt(2 / 3), abs=1e-4)


def test_welch_on_unequal_variances_matches_scipy():
    a, b = np.array([0.30, 0.32, 0.28, 0.35]), np.array([0.01, 0.05, 0.00])
    diff, lo, hi = welch_interval(a, b)
    res = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx((res.low, res.high))


def test_seed_intervals_stay_inside_their_bounds():
    """Three seeds near 100 %: the t-interval is clipped at 100, never 156.5 (the old report)."""
    values = np.array([1.0, 1.0, 0.79])
    mean, lo, hi = t_interval(values)
    assert hi > 1.0  # unclipped, the interval leaves the possible range
    mean, lo, hi = t_interval(values, FRACTION)
    assert 0.0 <= lo < mean < hi == 1.0
    cell = seed_ci(values)
    assert cell.endswith("(n=3)") and "100.0]" in cell
    mean, lo, hi = t_interval(np.array([0.02, 0.0, 0.3]), FRACTION)
    assert lo == 0.0
    diff, lo, hi = welch_interval(np.array([0.9, 0.95, 0.1]), np.array([0.0, 0.05, 0.0]), CHANGE)
    assert -1.0 <= lo < diff < hi <= 1.0


def test_too_few_seeds_give_no_interval_and_say_so():
    assert seed_ci(np.array([0.93, 0.93])) == "93.0 (n=2 seeds: too few for an interval)"
    assert seed_ci(np.array([0.4, np.nan])) == "40.0 (n=1 seed: too few for an interval)"
    assert seed_ci(np.array([])) == "n/a (n=0)"
    assert np.isnan(t_interval(np.array([0.9, 0.96]))[1:]).all()
    diff, lo, hi = welch_interval(np.array([0.3, 0.3, 0.3]), np.array([0.1, 0.2]))
    assert diff == pytest.approx(0.15) and np.isnan([lo, hi]).all()


def test_constant_seeds_give_a_point_interval():
    assert t_interval(np.array([0.5, 0.5, 0.5]), FRACTION) == (0.5, 0.5, 0.5)
    diff, lo, hi = welch_interval(np.array([0.3, 0.3, 0.3]), np.array([0.1, 0.1, 0.1]))
    assert diff == pytest.approx(0.2) and (lo, hi) == (diff, diff)


def test_markdown_table_keeps_formatted_cells():
    table = markdown_table(
        pd.DataFrame({"model": ["mmcl-seed0", "b"], "top-1 %": ["93.0", "7.5"], "lr": [1e-5, 0.5]})
    )
    lines = table.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["model", "top-1 %", "lr"]
    assert set(lines[1]) <= {"|", ":", "-"}
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["mmcl-seed0", "93.0", "1e-05"]
    assert [c.strip() for c in lines[3].split("|")[1:-1]] == ["b", "7.5", "0.5"]
