"""The declared pre-training checkpoint rules (B12), on a sequence of evaluated epochs."""

from __future__ import annotations

import pytest

from imitation_kedro.pipelines.backdoor.params import PretrainParams
from imitation_kedro.pipelines.backdoor.runs import _keeps

# (epoch, selection top-1, selection ASR@1): accuracy peaks at epoch 3 where the backdoor is lost
EPOCHS = [(0, 0.01, 0.0), (1, 0.10, 0.99), (2, 0.14, 0.97), (3, 0.18, 0.80), (4, 0.16, 0.96)]


def _kept(**rule) -> int | None:
    p = PretrainParams(**rule)
    kept, score = None, -1.0
    for epoch, acc, asr in EPOCHS:
        if _keeps(p, epoch, acc > score, asr):
            kept, score = epoch, acc
    return kept


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"checkpoint_rule": "last"}, 4),
        ({"checkpoint_rule": "best_clean_acc"}, 3),
        ({"checkpoint_rule": "best_clean_acc_backdoored"}, 4),
        ({"checkpoint_rule": "best_clean_acc_backdoored", "backdoor_floor": 0.98}, 1),
        ({"checkpoint_rule": "best_clean_acc_backdoored", "backdoor_floor": 0.995}, None),
        ({"checkpoint_rule": "fixed_epoch", "fixed_epoch": 2}, 2),
    ],
)
def test_each_rule_keeps_its_epoch(rule, expected):
    assert _kept(**rule) == expected


def test_backdoor_floor_is_a_fraction():
    with pytest.raises(ValueError, match="backdoor_floor"):
        PretrainParams(checkpoint_rule="best_clean_acc_backdoored", backdoor_floor=95)
