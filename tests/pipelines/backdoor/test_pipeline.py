"""The whole pipeline on an in-memory catalog (tiny), bad input, parameters, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from imitation_kedro.core.params import ParameterError, parse_params
from imitation_kedro.models.clip_checkpoints import EpochCheckpoints
from imitation_kedro.pipelines.backdoor import create_pipeline
from imitation_kedro.pipelines.backdoor import data as D
from imitation_kedro.pipelines.backdoor.augment import augment_captions
from imitation_kedro.pipelines.backdoor.params import AugmentParams, BackdoorParams
from imitation_kedro.pipelines.backdoor.pipeline import WORLD_INPUTS

from .conftest import add_params, build_pairs, concepts_table, tiny_params_dict

OUTPUTS = [
    "out_backdoor_cleaning_results",
    "out_backdoor_selection",
    "rpt_backdoor_report",
    "prm_backdoor_poison_manifest",
    "out_backdoor_pretrain_metrics",
    "mdl_backdoor_pretrained",
    "mdl_backdoor_cleaned",
    "rpt_backdoor_accuracy_vs_asr",
    "int_backdoor_rejects",
    "out_backdoor_effect",
]
RESUME = "int_backdoor_pretrain_epochs"  # the per-epoch resume store (off: no folder)


class KeptMemoryDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediates."""

    def _release(self) -> None:
        pass


@pytest.mark.slow
def test_pipeline_runs_end_to_end_in_memory(tiny_pairs, tmp_path):
    pytest.importorskip("torch").set_num_threads(1)
    broken = pd.DataFrame(
        [{"key": "bad1", "caption": "a banana", "status": "success", "png": b"not a png"}]
    )
    catalog = DataCatalog()
    catalog[WORLD_INPUTS["raw_backdoor_pairs"]] = {"part-0": tiny_pairs, "part-1": lambda: broken}
    catalog[WORLD_INPUTS["raw_backdoor_classes"]] = concepts_table()
    catalog[WORLD_INPUTS["raw_backdoor_eval"]] = (
        pd.DataFrame()
    )  # unused with data.eval_source: corpus
    add_params(catalog, BackdoorParams(**tiny_params_dict()))  # as Kedro 1.7 builds it
    catalog[RESUME] = EpochCheckpoints()
    for name in OUTPUTS:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
    res = catalog.load("out_backdoor_cleaning_results")
    # 2 pre-trained models x (mmcl, ssl, mmcl_ssl) x 1 lr x (epoch 0 + 1 epoch)
    assert len(res) == 2 * 3 * 2
    for col in [
        "pretrain_objective",
        "clean_objective",
        "attack",
        "lr",
        "lambda_ssl",
        "epoch",
        "selection_acc1",
        "selection_asr1",
        "test_acc1",
        "test_asr1",
        "test_asr5",
    ]:
        assert col in res.columns
    assert res[["test_acc1", "test_asr1"]].apply(lambda s: s.between(0, 1)).all().all()
    assert len(catalog.load("prm_backdoor_poison_manifest")) == 24
    rejects = catalog.load("int_backdoor_rejects")
    assert list(rejects["key"]) == ["bad1"] and "undecodable" in rejects["reason"].iloc[0]
    sel = catalog.load("out_backdoor_selection")
    assert set(sel["rule"]) == {"heldout", "oracle_test"} and set(sel["asr_cap"]) == {0.1, 0.5}
    report = catalog.load("rpt_backdoor_report")
    assert "## Is cleaning harder after MMCL+SSL" in report
    assert "## Headline: the cost gap of cleaning" in report and "**Verdict (CleanCLIP" in report
    effect = catalog.load("out_backdoor_effect")
    assert set(effect["asr_cap"]) == {0.1, 0.5} and len(effect) == 4 * 2
    models = catalog.load("mdl_backdoor_pretrained")
    assert set(models) == {"mmcl-seed0", "mmcl_ssl-seed0"}
    # issue 18 problem 5: the selected cleaned models are saved (safetensors through the catalog)
    cleaned = catalog.load("mdl_backdoor_cleaned")
    chosen = sel[(sel["rule"] == "heldout") & sel["selected"]]
    assert len(chosen) > 0
    for row in chosen.itertuples():
        hits = [
            m
            for m in (c["meta"] for c in cleaned.values())
            if m["pretrain_objective"] == row.pretrain_objective
            and m["clean_objective"] == row.clean_objective
            and m["lr"] == row.lr
            and m["epoch"] == row.epoch
            and row.asr_cap in m["asr_caps"]
        ]
        assert len(hits) == 1, row
    from imitation_kedro.datasets.clip_checkpoints import ClipCheckpointsDataset

    ds = ClipCheckpointsDataset(str(tmp_path / "cleaned"))
    ds.save(cleaned)
    assert set(ds.load()) == set(cleaned)


def test_checkpoint_dataset_roundtrip_and_wrong_architecture(tmp_path):
    torch = pytest.importorskip("torch")
    from imitation_kedro.datasets.clip_checkpoints import ClipCheckpointsDataset
    from imitation_kedro.models.clip_checkpoints import ArchitectureMismatchError, load_state
    from imitation_kedro.pipelines.backdoor.params import ModelParams
    from imitation_kedro.pipelines.backdoor.train import build_model

    from .conftest import TINY_CFG

    bundle = build_model(ModelParams(cfg=TINY_CFG), 2.0, seed=0)
    ds = ClipCheckpointsDataset(str(tmp_path / "ckpt"))
    ds.save({"mmcl-seed0": {"state_dict": bundle.model.state_dict(), "meta": {"seed": 0}}})
    back = ds.load()["mmcl-seed0"]
    assert back["meta"]["seed"] == 0
    other = build_model(ModelParams(cfg=TINY_CFG), 2.0, seed=1)
    load_state(other.model, back["state_dict"], "mmcl-seed0")
    assert torch.equal(other.model.logit_scale, bundle.model.logit_scale)
    wider = {**TINY_CFG, "embed_dim": 48}
    with pytest.raises(ArchitectureMismatchError, match="shape differences"):
        load_state(build_model(ModelParams(cfg=wider), 2.0, 0).model, back["state_dict"], "x")


def test_empty_augmented_caption_falls_back_at_the_same_row():
    out = augment_captions(["a", "b", "c"], ["red apple pie", "1234 !!", "plum"], AugmentParams())
    assert list(out["key"]) == ["a", "b", "c"]
    assert list(out["fallback"]) == [False, True, False]
    assert out.loc[1, "caption_aug"] == "1234 !!"
    again = augment_captions(["a", "b", "c"], ["red apple pie", "1234 !!", "plum"], AugmentParams())
    assert again.equals(out)  # static, seeded per key


def test_bad_pairs_and_classes_fail_clearly(tiny_pairs):
    params = BackdoorParams(**tiny_params_dict()).data
    with pytest.raises(D.BackdoorDataError, match=r"lack column\(s\) \['png'\]"):
        build_pairs(tiny_pairs.drop(columns="png"), concepts_table(), params)
    pairs, rejects = build_pairs(tiny_pairs.head(50), concepts_table(), params)
    assert rejects.empty and pairs["label"].notna().all()
    with pytest.raises(D.BackdoorDataError, match="'durian' is not in the class list"):
        D.choose_classes(pairs, "durian", params)
    classes, target = D.choose_classes(pairs, None, params, target_rank=0)
    counts = pairs["label"].value_counts()
    assert target == counts.index[0] and target in classes


def test_parameters_reject_unknown_keys_and_bad_values():
    with pytest.raises(ParameterError, match="unknown key"):
        parse_params(BackdoorParams, tiny_params_dict(attack={"n_poisons": 3}), "backdoor")
    with pytest.raises(ParameterError, match="objectives"):
        parse_params(
            BackdoorParams, tiny_params_dict(pretrain={"objectives": ["clip"]}), "backdoor"
        )
    with pytest.raises(ParameterError, match="exactly one"):
        parse_params(BackdoorParams, tiny_params_dict(model={"cfg": None}), "backdoor")


def test_pipeline_modules_import_without_torch():
    code = (
        "import sys; import imitation_kedro.pipelines.backdoor as b; b.create_pipeline();"
        "import imitation_kedro.pipelines.backdoor.params;"
        "assert 'torch' not in sys.modules and 'open_clip' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conf_files_parse_into_params():
    """Each env's block stands alone: Kedro's default merge replaces the whole `backdoor:` key."""
    import yaml

    for env in ("base", "test", "paper"):
        with open(f"conf/{env}/parameters_backdoor.yml") as f:
            BackdoorParams(**yaml.safe_load(f)["backdoor"])
    with open("conf/paper/parameters_backdoor.yml") as f:
        paper = BackdoorParams(**yaml.safe_load(f)["backdoor"])
    assert len(paper.eval.templates) == 80 and paper.attack.target == "banana"
    assert paper.model.name == "RN50" and paper.attack.n_poison == 1500


def test_seeded_split_is_reproducible(tiny_pairs):
    params = BackdoorParams(**tiny_params_dict()).data
    pairs, _ = build_pairs(tiny_pairs, concepts_table(), params)
    classes, _ = D.choose_classes(pairs, "banana", params)
    a, b = D.split_pairs(pairs, classes, params), D.split_pairs(pairs, classes, params)
    assert a.equals(b)
    assert (a["split"] == "test").sum() == params.n_test
    assert np.all(a.loc[a["split"] != "pretrain", "label"].isin(classes))

