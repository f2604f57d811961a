"""ASR definition (target-class images excluded), top-k, and selection on the selection split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.pipelines.backdoor.evaluate import accuracy, attack_success_rate
from imitation_kedro.pipelines.backdoor.select import select_points


def onehot(preds, n=3):
    s = np.zeros((len(preds), n))
    s[np.arange(len(preds)), preds] = 1.0
    return s


def test_asr_excludes_target_class_images_and_compares_with_target():
    labels = np.array([0, 0, 1, 2])  # target = 0
    # every triggered image predicted as the target: ASR 100 % over the 2 non-target images
    assert attack_success_rate(onehot([0, 0, 0, 0]), labels, 0, 1) == 1.0
    # class-1 image keeps its class, class-2 image flips to target: 1/2 (target images ignored)
    assert attack_success_rate(onehot([1, 1, 1, 0]), labels, 0, 1) == 0.5
    # the original bug reported accuracy on triggered images (here 1/4) -- not an ASR
    assert attack_success_rate(onehot([0, 2, 1, 1]), labels, 0, 1) == 0.0
    with pytest.raises(ValueError, match="not the target"):
        attack_success_rate(onehot([0, 0]), np.array([0, 0]), 0, 1)


def test_topk_asr_and_accuracy():
    scores = np.array([[0.1, 0.5, 0.4], [0.3, 0.2, 0.5], [0.9, 0.0, 0.1]])
    labels = np.array([1, 2, 0])
    assert attack_success_rate(scores, labels, 0, 1) == 0.0
    assert attack_success_rate(scores, labels, 0, 2) == 0.5  # row 1 has target 0 in its top-2
    assert accuracy(scores, labels, 1) == 1.0
    assert accuracy(scores, np.array([2, 1, 2]), 2) == pytest.approx(2 / 3)


def _results():
    base = {
        "pretrain_objective": "mmcl",
        "pretrain_seed": 0,
        "clean_objective": "mmcl_ssl",
        "attack": "badnet",
        "lambda_ssl": 1.0,
        "test_acc5": 0.9,
        "test_asr5": 0.9,
    }
    pts = [  # (lr, epoch, sel_acc, sel_asr, test_acc, test_asr)
        (1e-3, 0, 0.80, 0.95, 0.81, 0.96),  # poisoned model: never eligible
        (1e-3, 1, 0.70, 0.04, 0.60, 0.03),  # best on selection under 5 %
        (1e-3, 2, 0.65, 0.02, 0.75, 0.02),  # best on test (oracle) under 5 %
        (1e-4, 1, 0.72, 0.08, 0.71, 0.09),  # best under 10 %
    ]
    return pd.DataFrame(
        [
            base
            | {
                "lr": lr,
                "epoch": ep,
                "selection_acc1": sa,
                "selection_asr1": sr,
                "test_acc1": ta,
                "test_asr1": tr,
            }
            for lr, ep, sa, sr, ta, tr in pts
        ]
    )


def test_selection_uses_selection_split_and_reports_test_numbers():
    out = select_points(_results(), [0.05, 0.10, 0.01], "selection")
    held = out[out["rule"] == "heldout"].set_index("asr_cap")
    assert held.loc[0.05, "epoch"] == 1 and held.loc[0.05, "test_acc1"] == 0.60
    assert held.loc[0.10, "lr"] == 1e-4 and held.loc[0.10, "test_acc1"] == 0.71
    assert not held.loc[0.01, "selected"] and np.isnan(held.loc[0.01, "test_acc1"])
    assert held.loc[0.01, "min_asr"] == 0.02
    oracle = out[out["rule"] == "oracle_test"].set_index("asr_cap")
    assert oracle.loc[0.05, "epoch"] == 2 and oracle.loc[0.05, "test_acc1"] == 0.75


def test_selection_on_test_is_the_oracle_only():
    out = select_points(_results(), [0.05], "test")
    assert list(out["rule"]) == ["heldout"] and out["selected_on"].iloc[0] == "test"
    assert out["epoch"].iloc[0] == 2


def test_report_refuses_a_conclusion_when_the_backdoor_gate_fails():
    from imitation_kedro.pipelines.backdoor.finding import finding as _finding
    from imitation_kedro.pipelines.backdoor.params import BackdoorParams

    from .conftest import tiny_params_dict

    params = BackdoorParams(**tiny_params_dict())
    kept = pd.DataFrame(
        {
            "model": ["mmcl-seed0", "mmcl_ssl-seed0"],
            "pretrain_objective": ["mmcl", "mmcl_ssl"],
            "pretrain_seed": [0, 0],
            "test_acc1": [0.8, 0.9],
            "test_asr1": [0.95, 0.5],
        }
    )
    held = select_points(_results(), [0.1], "selection")
    text = "\n".join(_finding(kept, held[held["rule"] == "heldout"], params.select))
    assert "Gate not met" in text and "mmcl_ssl-seed0" in text
    assert "harder after" not in text.lower() and "no clear difference" not in text


def _kept_and_heldout(cost_mmcl, cost_ssl):
    """Poisoned accuracy 0.9 for every model; one selected MMCL+SSL cleaning point per seed."""
    kept, rows = [], []
    for obj, costs in (("mmcl", cost_mmcl), ("mmcl_ssl", cost_ssl)):
        for seed, cost in enumerate(costs):
            kept.append(
                {
                    "model": f"{obj}-seed{seed}",
                    "pretrain_objective": obj,
                    "pretrain_seed": seed,
                    "test_acc1": 0.9,
                    "test_asr1": 1.0,
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
                    "min_asr": 0.01,
                    "test_acc1": 0.9 - cost,
                    "test_asr1": 0.02,
                }
            )
    return pd.DataFrame(kept), pd.DataFrame(rows)


def test_report_reads_the_seed_interval_of_the_difference():
    from imitation_kedro.pipelines.backdoor.finding import finding as _finding
    from imitation_kedro.pipelines.backdoor.params import BackdoorParams

    from .conftest import tiny_params_dict

    params = BackdoorParams(**tiny_params_dict(select={"asr_caps": [0.1]}))
    kept, held = _kept_and_heldout([0.01, 0.02, 0.00], [0.30, 0.32, 0.28])
    text = "\n".join(_finding(kept, held, params.select))
    assert "**harder after MMCL+SSL**" in text
    kept, held = _kept_and_heldout([0.01, 0.30, 0.00], [0.30, 0.00, 0.02])
    text = "\n".join(_finding(kept, held, params.select))
    assert "**no clear difference" in text and "**harder" not in text
    kept, held = _kept_and_heldout([0.30, 0.32, 0.28], [0.01, 0.02, 0.00])
    assert "**easier after MMCL+SSL**" in "\n".join(_finding(kept, held, params.select))
