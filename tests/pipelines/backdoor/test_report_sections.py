"""Report sections over few seeds: bounded intervals, no conclusion without an interval."""

from __future__ import annotations

import re

import pandas as pd

from imitation_kedro.pipelines.backdoor.finding import finding
from imitation_kedro.pipelines.backdoor.params import SelectParams
from imitation_kedro.pipelines.backdoor.report import cleaned_summary, poisoned_section

NUMBER = re.compile(r"-?\d+\.\d")


def _tables(costs_mmcl, costs_ssl, acc=0.93, asr=(1.0, 1.0, 1.0)):
    """Kept poisoned models and one selected MMCL+SSL cleaning point per seed."""
    kept, rows = [], []
    for obj, costs in (("mmcl", costs_mmcl), ("mmcl_ssl", costs_ssl)):
        for seed, cost in enumerate(costs):
            kept.append(
                {
                    "model": f"{obj}-seed{seed}",
                    "pretrain_objective": obj,
                    "pretrain_seed": seed,
                    "epoch": 2,
                    "test_acc1": acc,
                    "test_asr1": asr[seed],
                    "selection_asr1": asr[seed],
                    "pairs_per_s": 100.0,
                }
            )
            rows.append(
                {
                    "pretrain_objective": obj,
                    "pretrain_seed": seed,
                    "clean_objective": "mmcl_ssl",
                    "asr_cap": 0.1,
                    "rule": "heldout",
                    "selected": True,
                    "lr": 1e-4,
                    "epoch": 1,
                    "sel_acc1": acc - cost,
                    "min_asr": 0.01,
                    "test_acc1": acc - cost,
                    "test_asr1": 0.02,
                }
            )
    return pd.DataFrame(kept), pd.DataFrame(rows)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text)]


def test_two_seeds_draw_no_conclusion_and_say_why():
    kept, held = _tables([0.01, 0.02], [0.30, 0.32])
    text = "\n".join(finding(kept, held, SelectParams(asr_caps=[0.1])))
    assert "n=2 seeds: too few for an interval" in text
    assert "harder (n=2 seeds: too few for an interval)" in text
    assert "**harder after MMCL+SSL**" not in text
    assert "Seeds are few (< 3 per pre-training objective)" in text


def test_three_seeds_read_the_interval():
    kept, held = _tables([0.01, 0.02, 0.00], [0.30, 0.32, 0.28])
    text = "\n".join(finding(kept, held, SelectParams(asr_caps=[0.1])))
    assert "**harder after MMCL+SSL**" in text and "too few" not in text
    assert "Seeds are few" not in text


def test_percent_columns_stay_within_0_and_100():
    """ASR 100, 100, 79 % over three seeds: the t-interval's upper end is 100.0, not ~156."""
    kept, held = _tables([0.01, 0.02, 0.00], [0.30, 0.32, 0.28], asr=(1.0, 1.0, 0.79))
    text = "\n".join(poisoned_section(kept, n_acc=100, n_asr=85))
    across = text.split("Across seeds", 1)[1]
    assert "93.0 [62.9, 100.0] (n=3)" in across
    assert all(0.0 <= x <= 100.0 for x in _numbers(across))
    summary = "\n".join(cleaned_summary(kept, held, n_asr=85))
    assert all(-100.0 <= x <= 100.0 for x in _numbers(summary))
