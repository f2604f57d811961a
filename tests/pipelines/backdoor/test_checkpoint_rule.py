"""The declared pre-training checkpoint rules (B12), on a sequence of evaluated epochs."""

from __future__ import annotations

import logging

import pytest

from imitation_kedro.pipelines.backdoor.params import PretrainParams
from imitation_kedro.pipelines.backdoor.runs import KeptEpoch

# (epoch, selection top-1, selection ASR@1): accuracy peaks at epoch 3 where the backdoor is lost
EPOCHS = [(0, 0.01, 0.0), (1, 0.10, 0.99), (2, 0.14, 0.97), (3, 0.18, 0.80), (4, 0.16, 0.96)]


def _kept(**rule) -> dict:
    chooser = KeptEpoch(PretrainParams(**rule), "mmcl-seed0")
    for epoch, acc, asr in EPOCHS:
        chooser.offer(epoch, acc, asr, lambda epoch=epoch: f"weights of epoch {epoch}")
    return chooser.result()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"checkpoint_rule": "last"}, 4),
        ({"checkpoint_rule": "best_clean_acc"}, 3),
        ({"checkpoint_rule": "best_clean_acc_backdoored"}, 4),
        ({"checkpoint_rule": "best_clean_acc_backdoored", "backdoor_floor": 0.98}, 1),
        ({"checkpoint_rule": "fixed_epoch", "fixed_epoch": 2}, 2),
    ],
)
def test_each_rule_keeps_its_epoch_and_its_weights(rule, expected):
    kept = _kept(**rule)
    assert kept["epoch"] == expected and kept["state"] == f"weights of epoch {expected}"


def test_below_the_floor_everywhere_keeps_the_most_backdoored_epoch_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        kept = _kept(checkpoint_rule="best_clean_acc_backdoored", backdoor_floor=0.995)
    assert kept["epoch"] == 1 and kept["state"] == "weights of epoch 1"
    assert "mmcl-seed0: no evaluated epoch reached selection ASR@1 >= 0.995" in caplog.text


def test_a_fixed_epoch_never_evaluated_is_an_error_naming_the_model():
    with pytest.raises(ValueError, match="kept no epoch of mmcl-seed0"):
        _kept(checkpoint_rule="fixed_epoch", fixed_epoch=7)


def test_backdoor_floor_is_a_fraction():
    with pytest.raises(ValueError, match="backdoor_floor"):
        PretrainParams(checkpoint_rule="best_clean_acc_backdoored", backdoor_floor=95)
