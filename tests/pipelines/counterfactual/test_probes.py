"""Probe choice and the counterfactual training sets (pure pandas/numpy, no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.pipelines.counterfactual.probes import draw_rows, pick_probes, training_rows


def small_world(counts=(2, 5, 9, 20, 40, 80), domains=("style", "motif")):
    """Ground truth and a corpus plan: each concept's named rows, one unnamed, one mismatch."""
    truth, rows = [], []
    for d in domains:
        for i, c in enumerate(counts):
            name = f"{d} concept {i}"
            truth.append({"concept": name, "domain": d, "true_image_count": c})
            rows += [(f"a work by {name}", name, "named")] * c
            rows += [("a landscape", name, "unnamed"), (f"photo of {name}", None, "mismatch")]
    rows.append(("background", None, "bg"))
    plan = pd.DataFrame(rows, columns=["TEXT", "shows", "role"])
    plan.insert(0, "SAMPLE_ID", range(100, 100 + len(plan)))
    plan["has_image"] = True
    return pd.DataFrame(truth), plan, [f"{s:09d}" for s in plan["SAMPLE_ID"]]


def test_probes_spread_over_the_count_range_and_are_seeded():
    truth, plan, _ = small_world()
    a = pick_probes(truth, plan, per_domain=3, min_source=1, seed=0)
    assert list(a.groupby("domain").size()) == [3, 3]
    for _, g in a.groupby("domain"):  # one per bin: low, middle, high thirds of the ranks
        assert list(g["bin"]) == [0, 1, 2]
        assert g["true_image_count"].is_monotonic_increasing
        assert g["true_image_count"].iloc[0] <= 5 and g["true_image_count"].iloc[-1] >= 40
    pd.testing.assert_frame_equal(a, pick_probes(truth, plan, per_domain=3, min_source=1, seed=0))


def test_too_few_candidates_name_the_domain_and_the_fix():
    truth, plan, _ = small_world()
    with pytest.raises(ValueError, match=r"domain 'motif' has 2 concepts with >= 40 source images.*per_domain"):
        pick_probes(truth, plan, per_domain=3, min_source=40, seed=0)


def test_draws_use_every_source_once_before_repeating():
    rng = np.random.default_rng(0)
    assert len(set(draw_rows(10, 7, rng))) == 7
    big = draw_rows(10, 25, rng)
    assert len(big) == 25 and set(big) == set(range(10))


def test_a_level_sets_each_probe_to_exactly_that_many_images_and_keeps_the_rest():
    truth, plan, keys = small_world()
    probes = pd.DataFrame({"concept": ["style concept 1", "motif concept 4"]})
    for level in (1, 7, 100):
        idx, distinct = training_rows(plan, keys, probes, level, train_seed=0)
        shown = plan["shows"].to_numpy()[idx]
        texts = plan["TEXT"].to_numpy()[idx]
        for name in probes["concept"]:
            assert (shown == name).sum() == level  # unnamed image of the probe dropped
            assert not any(t == f"photo of {name}" for t in texts)  # its mismatched caption dropped
        other = plan[~plan["shows"].isin(probes["concept"]) & ~plan["TEXT"].isin(
            [f"photo of {n}" for n in probes["concept"]])]
        assert set(other.index) <= set(idx)  # every other row kept
        assert distinct["style concept 1"] == min(level, 5)
    a, _ = training_rows(plan, keys, probes, 7, train_seed=0)
    b, _ = training_rows(plan, keys, probes, 7, train_seed=0)
    c, _ = training_rows(plan, keys, probes, 3, train_seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a[: len(c)], c)


def test_a_plan_from_another_world_is_refused():
    truth, plan, keys = small_world()
    with pytest.raises(ValueError, match="raw_laion_images lacks the image of plan rows"):
        training_rows(plan, keys[:-3], pd.DataFrame({"concept": ["style concept 0"]}), 2, 0)
