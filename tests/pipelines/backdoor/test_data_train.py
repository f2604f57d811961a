"""Separate evaluation tables (ImageNet / world references), image paths, resume per epoch."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from imitation_kedro.pipelines.backdoor import data as D
from imitation_kedro.pipelines.backdoor.eager import read_image_paths
from imitation_kedro.pipelines.backdoor.params import DataParams

from .conftest import CLASSES, build_pairs, concepts_table, make_pairs


def test_eval_table_with_integer_labels_and_paths(tmp_path):
    pairs = make_pairs(6, size=16, seed=3)
    for i, png in enumerate(pairs["png"]):
        (tmp_path / f"{i}.png").write_bytes(png)
    table = pd.DataFrame(
        {"image": [f"{i}.png" for i in range(6)] + ["missing.png"], "label": [0, 1, 2, 0, 1, 2, 0]}
    )
    ev = D.eval_table_pairs(read_image_paths(table, str(tmp_path)), concepts_table())
    assert list(ev["label"][:3]) == CLASSES[:3]
    params = DataParams(image_size=16, min_class_pairs=1)
    built, rejects = build_pairs(ev, concepts_table(), params)
    assert len(built) == 6 and list(rejects["key"]) == ["eval-6"]
    with pytest.raises(D.BackdoorDataError, match="outside the 6 classes"):
        D.eval_table_pairs(table.assign(label=[0, 1, 2, 3, 4, 5, 6]), concepts_table())


def test_split_with_separate_eval_table_keeps_corpus_for_pretraining(tiny_pairs):
    params = DataParams(image_size=16, n_classes=6, min_class_pairs=1, n_selection=10, n_test=20)
    pairs, _ = build_pairs(tiny_pairs.head(40), concepts_table(), params)
    refs = pd.DataFrame(
        {"concept": [CLASSES[i % 6] for i in range(36)], "png": make_pairs(36, 16, seed=5)["png"]}
    )
    ev, _ = build_pairs(D.eval_table_pairs(refs, concepts_table()), concepts_table(), params)
    out = D.split_pairs(pairs, CLASSES, params, ev)
    assert (out["split"] == "pretrain").sum() == 40
    assert (out["split"] == "test").sum() == 20 and (out["split"] == "selection").sum() == 10
    assert out.loc[out["split"] != "pretrain", "key"].str.startswith("eval-").all()
    with pytest.raises(D.BackdoorDataError, match="fewer than"):
        D.split_pairs(pairs, CLASSES, DataParams(n_test=30, n_selection=10), ev)


def test_training_resumes_from_the_last_epoch_checkpoint(tmp_path, tiny_pairs):
    torch = pytest.importorskip("torch")
    from imitation_kedro.models.clip_checkpoints import EpochCheckpoints
    from imitation_kedro.pipelines.backdoor.images import decode_images, images_to_tensor
    from imitation_kedro.pipelines.backdoor.params import ModelParams, OptimParams
    from imitation_kedro.pipelines.backdoor.train import TrainData, build_model, train

    from .conftest import TINY_CFG

    torch.set_num_threads(1)
    rows = tiny_pairs.head(32)

    def run(epochs: int, ckpt: str | None):
        bundle = build_model(ModelParams(cfg=TINY_CFG), math.log(1 / 0.07), seed=0)
        toks = bundle.tokenizer(rows["caption"].tolist())
        data = TrainData(images_to_tensor(decode_images(rows["png"], 16)), toks, toks)
        optim = OptimParams(epochs=epochs, batch_size=16, lr=1e-3, warmup_steps=1)
        seen = []
        res = train(
            bundle,
            data,
            "mmcl",
            optim,
            1e-3,
            1.0,
            0.0,
            math.log(100),
            seed=0,
            eval_fn=lambda m, e: seen.append(e) or [{"epoch": e, "w": _weights_sum(m)}],
            checkpoints=EpochCheckpoints(ckpt),
        )
        return res, seen

    straight, _ = run(2, None)
    run(2, str(tmp_path))
    for f in tmp_path.glob("epoch_0002*"):  # as if interrupted during epoch 2
        f.unlink()
    (tmp_path / "latest.json").write_text('{"epoch": 1}')
    resumed, seen = run(2, str(tmp_path))
    # epoch 1 was not trained again but evaluated again from its weights, so the metric rows
    # (and any checkpoint rule choosing among them) equal the uninterrupted run's
    assert seen == [0, 1, 2]
    assert [r["epoch"] for r in resumed.metrics] == [0, 1, 2]
    for got, want in zip(resumed.metrics, straight.metrics, strict=True):
        assert got["w"] == pytest.approx(want["w"], rel=1e-5)
    for k, v in straight.state_dict.items():
        assert torch.allclose(v, resumed.state_dict[k], atol=1e-5), k


def _weights_sum(model) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))
