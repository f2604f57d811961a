"""The attack must really work: pre-training on poisoned pairs learns the backdoor (the gate)."""

from __future__ import annotations

import pytest

from imitation_kedro.models.clip_checkpoints import EpochCheckpoints
from imitation_kedro.pipelines.backdoor import nodes as N
from imitation_kedro.pipelines.backdoor.params import BackdoorParams

from .conftest import concepts_table, tiny_params_dict


@pytest.mark.slow
def test_fixed_patch_backdoor_is_learned_by_both_objectives(tiny_pairs):
    """~10 % poisons with the base config's trigger (fixed noise, corner): after 8 epochs both
    objectives flip >= 80 % of non-target test images to the target and stay accurate on clean
    images (6 classes, chance 17 %). Guards the trigger, poisoning, training and ASR paths end to
    end; the miniature world's numbers are in docs/reproduce_backdoor.md."""
    pytest.importorskip("torch").set_num_threads(1)
    params = BackdoorParams(
        **tiny_params_dict(
            attack={"patch_location": "corner", "patch_noise": "fixed", "n_poison": 24},
            pretrain={
                "objectives": ["mmcl", "mmcl_ssl"],
                "seeds": [0],
                "eval_every": 8,
                "optim": {"epochs": 8, "batch_size": 32, "lr": 5e-3, "warmup_steps": 5},
            },
        )
    )
    split, _, classes = N.prepare_pairs(
        tiny_pairs, concepts_table(), None, params.data, params.attack, params.eval
    )
    poisoned, manifest, _ = N.poison_corpus(split, classes, params.attack, params.data)
    assert len(manifest) == 24
    aug = N.augment_texts(poisoned, params.augment)
    _, metrics = N.pretrain_models(poisoned, aug, classes, EpochCheckpoints(), params)
    before = metrics[metrics["epoch"] == 0].set_index("pretrain_objective")
    after = metrics[metrics["kept"]].set_index("pretrain_objective")
    assert (before["test_asr1"] <= 0.2).all()  # an untrained model is not backdoored
    assert (after["test_asr1"] >= 0.8).all(), after["test_asr1"].to_dict()
    assert (after["test_acc1"] >= 0.5).all(), after["test_acc1"].to_dict()
