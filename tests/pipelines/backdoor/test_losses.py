"""Each objective on 2-sample tensors against hand-computed values; logit-scale clamp."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from imitation_kedro.pipelines.backdoor.losses import (  # noqa: E402
    mmcl_loss,
    objective_loss,
    siglip_loss,
    ssl_loss,
)


def sp(x: float) -> float:  # softplus: -log sigmoid(-x) = log(1 + e^x)
    return math.log1p(math.exp(x))


IMG = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
TXT = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
ONE = torch.tensor(1.0)


def test_mmcl_is_symmetric_mean_of_both_directions():
    # logits IMG TXT^T = [[1, .6], [0, .8]]; rows: log(1+e^-.4), log(1+e^-.8); columns: log(1+e^-1), log(1+e^-.2)
    want = 0.25 * (sp(-0.4) + sp(-0.8) + sp(-1.0) + sp(-0.2))
    assert float(mmcl_loss(IMG, TXT, ONE)) == pytest.approx(want, abs=1e-6)
    assert float(mmcl_loss(TXT, IMG, ONE)) == pytest.approx(want, abs=1e-6)


def test_mmcl_temperature_multiplies_logits():
    s = torch.tensor(2.0)
    want = 0.25 * (sp(-0.8) + sp(-1.6) + sp(-2.0) + sp(-0.4))
    assert float(mmcl_loss(IMG, TXT, s)) == pytest.approx(want, abs=1e-6)


def test_ssl_is_one_directional_originals_vs_augmented():
    # image term CE(IMG TXT^T) over rows only; text term CE(IMG IMG^TXT) = log(1 + e^-1) per row
    got = float(ssl_loss(IMG, TXT, IMG, IMG, ONE))
    want = 0.5 * (0.5 * (sp(-0.4) + sp(-0.8)) + sp(-1.0))
    assert got == pytest.approx(want, abs=1e-6)
    swapped = float(
        ssl_loss(TXT, IMG, IMG, IMG, ONE)
    )  # rows/columns exchanged: columns of the above
    assert swapped == pytest.approx(0.5 * (0.5 * (sp(-1.0) + sp(-0.2)) + sp(-1.0)), abs=1e-6)
    assert swapped != pytest.approx(got)


def test_combined_objectives_weight_and_share_temperature():
    s = torch.tensor(3.0)
    feats = {"img": IMG, "txt": TXT, "img_aug": TXT, "txt_aug": IMG}
    mm, ss = float(mmcl_loss(IMG, TXT, s)), float(ssl_loss(IMG, TXT, TXT, IMG, s))
    assert float(objective_loss("mmcl", feats, s, 1.0, 1.0)) == pytest.approx(mm, abs=1e-6)
    assert float(objective_loss("ssl", feats, s, 0.0, 2.0)) == pytest.approx(2 * ss, abs=1e-6)
    assert float(objective_loss("mmcl_ssl", feats, s, 1.0, 4.0)) == pytest.approx(
        mm + 4 * ss, abs=1e-6
    )


def test_siglip_matches_hand_value_with_and_without_bias():
    # entries [[1, .6], [0, .8]], z = +1 on the diagonal, -1 elsewhere
    want = 0.1 * (sp(-1.0) + sp(0.6) + sp(0.0) + sp(-0.8)) / 4
    assert float(siglip_loss(IMG, TXT, ONE)) == pytest.approx(want, abs=1e-6)
    b = torch.tensor(-1.0)
    want_b = 0.1 * (sp(0.0) + sp(-0.4) + sp(-1.0) + sp(0.2)) / 4
    assert float(siglip_loss(IMG, TXT, ONE, b)) == pytest.approx(want_b, abs=1e-6)
    with pytest.raises(ValueError, match="bias"):
        objective_loss("siglip_bias", {"img": IMG, "txt": TXT}, ONE, 1.0, 1.0)


def test_logit_scale_initialised_and_clamped_after_every_step(tiny_pairs):
    from imitation_kedro.pipelines.backdoor.images import decode_images, images_to_tensor
    from imitation_kedro.pipelines.backdoor.params import ModelParams, OptimParams
    from imitation_kedro.pipelines.backdoor.train import TrainData, build_model, train

    from .conftest import TINY_CFG

    torch.set_num_threads(1)
    bundle = build_model(ModelParams(cfg=TINY_CFG), math.log(1 / 0.07), seed=0)
    assert float(bundle.model.logit_scale.detach()) == pytest.approx(2.6592600, abs=1e-6)
    rows = tiny_pairs.head(32)
    toks = bundle.tokenizer(rows["caption"].tolist())
    data = TrainData(images_to_tensor(decode_images(rows["png"], 16)), toks, toks)
    optim = OptimParams(epochs=1, batch_size=16, lr=0.5, warmup_steps=1)
    train(bundle, data, "mmcl", optim, 0.5, 1.0, 0.0, logit_scale_max=2.0, seed=0)
    assert float(bundle.model.logit_scale.detach()) <= 2.0 + 1e-7
