"""The backdoor's paper-regime world (issue 23): its data, and at test size the regime itself:
zero-shot top-1 well below saturation over many classes while the backdoor is learned."""

from __future__ import annotations

import pandas as pd
import pytest

from imitation_kedro.models.clip_checkpoints import EpochCheckpoints
from imitation_kedro.pipelines.backdoor import nodes
from imitation_kedro.pipelines.backdoor.params import BackdoorParams, RegimeParams
from imitation_kedro.pipelines.backdoor.regime import regime_world

from .conftest import tiny_params_dict

SMALL = {"enabled": True, "n_classes": 20, "pairs_per_class": 4, "unlabelled_pairs": 6}


def test_regime_world_is_seeded_labelled_and_many_classed():
    p = RegimeParams(**SMALL)
    pairs, classes = regime_world(p, 16)
    assert len(pairs) == 20 * 4 + 6 and len(classes) == 20 and classes["concept"].is_unique
    assert pairs["key"].is_unique and (pairs["status"] == "success").all()
    again, _ = regime_world(p, 16)
    assert again.equals(pairs)  # byte for byte, PNGs included
    other, _ = regime_world(p.model_copy(update={"seed": 1}), 16)
    assert not other["png"].equals(pairs["png"])
    # every labelled caption names exactly one class, as a whole word; unlabelled ones none
    names = set(classes["concept"])
    named = pairs["caption"].map(lambda c: [w for w in c.split() if w in names])
    assert (named.map(len) == 1).sum() == 80 and (named.map(len) == 0).sum() == 6
    assert named[named.map(len) == 1].map(lambda n: n[0]).value_counts().eq(4).all()


def test_regime_node_switch_keeps_the_world_pairs_when_off(tiny_pairs):
    world = pd.DataFrame({"concept": ["banana"]})
    off = BackdoorParams(**tiny_params_dict())
    pairs, classes = nodes.regime_pairs({"p0": tiny_pairs}, world, off.regime, off.data)
    assert pairs.equals(tiny_pairs) and classes is world
    on = BackdoorParams(**tiny_params_dict(regime=SMALL))
    pairs, classes = nodes.regime_pairs({"p0": tiny_pairs}, world, on.regime, on.data)
    assert len(classes) == 20 and len(pairs) == 86


@pytest.mark.slow
def test_regime_at_test_size_is_far_from_saturation_with_the_backdoor_learned():
    """40 classes (chance 2.5 %), one MMCL model: top-1 well below saturation (the paper's
    16-24 % regime, not the FIT world's 86-96 %) and test ASR@1 >= 90 % before cleaning."""
    pytest.importorskip("torch").set_num_threads(1)
    regime = {"enabled": True, "n_classes": 40, "pairs_per_class": 30}
    p = BackdoorParams(**tiny_params_dict(
        regime=regime,
        data={"image_size": 32, "n_classes": 40, "min_class_pairs": 20, "n_selection": 120,
              "n_test": 200, "n_clean": 60, "seed": 0},
        attack={"kind": "badnet", "target": None, "n_poison": 80, "patch_size": 16,
                "patch_location": "corner", "patch_noise": "fixed", "seed": 0},
        model={"cfg": {**_cfg32()}},
        pretrain={"objectives": ["mmcl"], "seeds": [0], "eval_every": 8,
                  "optim": {"epochs": 8, "batch_size": 32, "lr": 5e-3, "warmup_steps": 20}},
    ))  # fmt: skip
    raw, concepts = nodes.regime_pairs({}, pd.DataFrame(), p.regime, p.data)
    pairs, _, classes = nodes.prepare_pairs(raw, concepts, {}, p.data, p.attack, p.eval)
    poisoned, manifest, _ = nodes.poison_corpus(pairs, classes, p.attack, p.data)
    views = nodes.augment_texts(poisoned, p.augment)
    _, metrics = nodes.pretrain_models(poisoned, views, classes, EpochCheckpoints(), p)
    last = metrics[metrics["kept"]].iloc[0]
    assert len(classes["classes"]) == 40 and len(manifest) == 80
    assert 0.05 <= last["test_acc1"] <= 0.5, last["test_acc1"]  # learned, far from saturation
    assert last["test_asr1"] >= 0.9, last["test_asr1"]  # high before cleaning (paper: 99-100 %)


def _cfg32() -> dict:
    from .conftest import TINY_CFG

    vision = {**TINY_CFG["vision_cfg"], "image_size": 32}
    return {
        **TINY_CFG,
        "vision_cfg": vision,
        "text_cfg": {**TINY_CFG["text_cfg"], "context_length": 16},
    }


def test_powered_preset_is_a_valid_run_config_with_the_power_analysis_seed_count():
    """conf/base/presets/backdoor_powered.yml (`kedro run --config ...`): run options Kedro
    accepts, parameters that deep-merge into base, and as many seeds as the power analysis asks."""
    import yaml
    from kedro.framework.cli.project import run

    with open("conf/base/presets/backdoor_powered.yml") as f:
        cfg = yaml.safe_load(f)["run"]
    assert set(cfg) <= {p.name for p in run.params} and cfg["pipelines"] == "backdoor"
    with open("conf/base/parameters_backdoor.yml") as f:
        base = yaml.safe_load(f)["backdoor"]
    seeds = cfg["params"]["backdoor"]["pretrain"]["seeds"]
    merged = BackdoorParams(**{**base, "pretrain": {**base["pretrain"], "seeds": seeds}})
    assert merged.regime.enabled and merged.pretrain.seeds == list(range(len(seeds)))
    assert len(seeds) >= 10
