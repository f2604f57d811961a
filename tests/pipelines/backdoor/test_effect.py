"""The headline effect (issue 23): a planted cost gap is recovered with an interval around it, no
gap gives an interval around 0, the paper's numbers, the verdict rule and the power analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.pipelines.backdoor import effect as E
from imitation_kedro.pipelines.backdoor.nodes import estimate_effect
from imitation_kedro.pipelines.backdoor.params import SelectParams

CAPS = [0.05, 0.2]


def _tables(n_seeds: int, handicap: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pre-training metrics and a held-out selection table of ``n_seeds`` seeds per objective:
    accuracy 20 % +- 3 before cleaning, cleaning costs 1 +- 2 points, and CleanCLIP cleaning of
    the MMCL+SSL models is handicapped by ``handicap`` (a fraction of accuracy)."""
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for obj in ("mmcl", "mmcl_ssl"):
        for s in range(n_seeds):
            acc = 0.20 + rng.normal(0, 0.03)
            kept.append({"model": f"{obj}-seed{s}", "pretrain_objective": obj, "pretrain_seed": s,
                         "epoch": 12, "test_acc1": acc, "test_asr1": 0.99, "kept": True})  # fmt: skip
            for clean in ("mmcl", "ssl", "mmcl_ssl"):
                after = acc - 0.01 + rng.normal(0, 0.02)
                if obj == "mmcl_ssl" and clean == "mmcl_ssl":
                    after -= handicap
                for cap in CAPS:
                    held.append({"pretrain_objective": obj, "pretrain_seed": s,
                                 "clean_objective": clean, "asr_cap": cap, "rule": "heldout",
                                 "selected": True, "test_acc1": after, "min_asr": 0.0})  # fmt: skip
    return pd.DataFrame(kept), pd.DataFrame(held)


def _row(table: pd.DataFrame, cleaning: str, cap: float = 0.05) -> pd.Series:
    hit = table[(table["cleaning_objective"] == cleaning) & np.isclose(table["asr_cap"], cap)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_planted_cleaning_handicap_is_recovered_with_its_interval():
    kept, held = _tables(n_seeds=12, handicap=0.10)
    table = estimate_effect(kept, held, SelectParams(asr_caps=CAPS))
    clean = _row(table, "mmcl_ssl")
    assert clean["effect"] == pytest.approx(10.0, abs=2.5)
    assert clean["lo"] > 0 and clean["lo"] < 10 < clean["hi"]
    assert clean["verdict"] == "reproduced"
    # the handicap was planted in CleanCLIP cleaning only: the other objectives show no gap
    for other in ("mmcl", "ssl"):
        r = _row(table, other)
        assert r["lo"] < 0 < r["hi"] and r["verdict"] != "reproduced"
    assert len(table) == 4 * len(CAPS)  # mmcl_ssl, mmcl, ssl, any x caps
    assert estimate_effect(kept, held, SelectParams(asr_caps=CAPS)).equals(table)  # seeded


def test_no_planted_gap_gives_an_interval_around_zero_and_no_reproduction():
    kept, held = _tables(n_seeds=12, handicap=0.0)
    r = _row(E.effect_table(kept, held, CAPS), "mmcl_ssl")
    assert r["lo"] < 0 < r["hi"] and abs(r["effect"]) < 2.5
    # sd ~2 points: a 10-point effect would have been seen, so the paper's +11 is ruled out
    assert r["hi"] < r["paper_effect"] and r["verdict"] == "contradicted"
    assert r["power_now"] > 0.99


def test_a_seed_never_cleaned_costs_its_whole_accuracy():
    kept, held = _tables(n_seeds=4, handicap=0.0)
    miss = (held["pretrain_objective"] == "mmcl_ssl") & (held["pretrain_seed"] == 0)
    held.loc[miss, "selected"] = False
    r = _row(E.effect_table(kept, held, CAPS), "mmcl_ssl")
    acc0 = kept.loc[kept["model"] == "mmcl_ssl-seed0", "test_acc1"].iloc[0]
    # that seed's cost rises to its whole accuracy (~20 points): the mean gap by about a quarter
    assert r["effect"] > 100 * acc0 / 4 - 2.5


def test_paper_effects_follow_the_reference_tables():
    # CC6M CleanCLIP at ASR <= 5 %: (23.86 - 13.05) - (23.76 - 24.04) = 11.09 points
    assert E.paper_effect("CC6M", "mmcl_ssl", 0.05) == pytest.approx(11.09)
    assert E.paper_effect("CC3M", "mmcl_ssl", 0.05) == pytest.approx(3.37)
    # SSL-only CC6M: (23.86 - 6.82) - (23.76 - 23.56)
    assert E.paper_effect("CC6M", "ssl", 0.05) == pytest.approx(16.84)
    assert np.isnan(E.paper_effect("CC6M", "mmcl_ssl", 0.5))  # a cap the paper does not report


def test_verdict_rule_and_power_analysis():
    assert E.verdict(1.0, 20.0, 11.0) == "reproduced"
    assert E.verdict(-20.0, -1.0, 11.0) == "contradicted"
    assert E.verdict(-3.0, 5.0, 11.0) == "contradicted"  # rules out the paper's 11 points
    assert E.verdict(-3.0, 15.0, 11.0) == "undetermined at this power"
    assert E.verdict(np.nan, np.nan, 11.0).startswith("undetermined")
    # d = 10 / 10 = 1: 17 seeds per group for 80 % power (two-sided, alpha 0.05)
    assert E.seeds_needed(10.0) == 17
    assert E.seeds_needed(20.0) > E.seeds_needed(10.0) > E.seeds_needed(5.0)
    assert E.seeds_needed(0.0) is None
    assert E.achieved_power(10.0, 17) == pytest.approx(0.8, abs=0.02)
    assert E.pooled_sd(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == pytest.approx(np.sqrt(2))


def test_no_verdict_while_a_poisoned_model_lacks_the_backdoor():
    kept, held = _tables(n_seeds=12, handicap=0.10)
    kept.loc[kept["model"] == "mmcl_ssl-seed3", "test_asr1"] = 0.5
    r = _row(E.effect_table(kept, held, CAPS), "mmcl_ssl")
    assert r["lo"] > 0 and r["verdict"].startswith("undetermined: gate not met (1 poisoned")
