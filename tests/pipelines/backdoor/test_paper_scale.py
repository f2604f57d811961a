"""Issue 18, one test (or more) per numbered problem: the zero-shot classifier's memory, the image
geometry per kind, the CC3M / CC6M configurations, index-based classes, saved cleaned checkpoints
(in test_pipeline.py's end-to-end run), data-parallel evaluation (test_distributed.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from imitation_kedro.pipelines.backdoor import data as D
from imitation_kedro.pipelines.backdoor import evaluate as E
from imitation_kedro.pipelines.backdoor import images as I
from imitation_kedro.pipelines.backdoor.eager import EagerPairs
from imitation_kedro.pipelines.backdoor.params import AttackParams, BackdoorParams, DataParams
from imitation_kedro.pipelines.backdoor.runs import clean_grid

from .conftest import TINY_CFG

ROOT = Path(__file__).resolve().parents[3]
CLASS_FILE = ROOT / "src/imitation_kedro/pipelines/backdoor/imagenet_classes.csv"


@pytest.fixture(scope="module")
def bundle():
    from imitation_kedro.models.untrained_clip import untrained_clip

    return untrained_clip(None, TINY_CFG, seed=0, logit_scale_init=2.659)


# 1. the zero-shot classifier is built in bounded prompt batches, equal to the one-batch version
def test_class_embeddings_bounded_batches_equal_one_batch(bundle, monkeypatch):
    classes = [f"class number {i}" for i in range(30)]
    templates = ["a photo of a {}.", "{} close up", "a drawing of the {}.", "itap of my {}."]
    seen = []
    encode = E.encode_prompts
    monkeypatch.setattr(E, "encode_prompts", lambda b, t: seen.append(len(t)) or encode(b, t))
    batched = E.class_embeddings(bundle, classes, templates, prompt_batch=16)
    assert max(seen) <= 16 and sum(seen) == 1 + len(classes) * len(templates)
    reference = E.class_embeddings_one_batch(bundle, classes, templates)
    assert batched.shape == (30, TINY_CFG["embed_dim"])
    assert float((batched - reference).abs().max()) <= 1e-6
    again = E.class_embeddings(bundle, classes, templates, prompt_batch=7)
    assert float((again - batched).abs().max()) <= 1e-6


def test_cut_prompt_tokens_encode_like_the_full_context():
    from imitation_kedro.models.untrained_clip import untrained_clip

    cfg = {**TINY_CFG, "text_cfg": {**TINY_CFG["text_cfg"], "context_length": 77}}
    b = untrained_clip(None, cfg, seed=1, logit_scale_init=2.659)
    texts = ["a photo of a banana.", "a low resolution photo of the sunglasses."]
    cut = E.prompt_tokens(b, texts)
    assert cut.shape[1] < 77
    full = b.model.encode_text(b.tokenizer(texts), normalize=True)
    assert float((E.encode_prompts(b, cut) - full).abs().max()) <= 1e-6


# 2. geometry: clean images Resize(bicubic) + CenterCrop, triggered images squashed
def _png(w: int, h: int) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_clean_images_are_centre_cropped_and_triggered_ones_squashed():
    from torchvision import transforms as T

    png = _png(40, 20)
    with Image.open(io.BytesIO(png)) as img:
        clip_pre = T.Compose([T.Resize(16, T.InterpolationMode.BICUBIC), T.CenterCrop(16)])
        want_clean = np.asarray(clip_pre(img.convert("RGB")))
        want_squash = np.asarray(img.convert("RGB").resize((16, 16), Image.Resampling.BICUBIC))
    assert np.array_equal(I.decode_image(png, 16), want_clean)
    assert np.array_equal(I.decode_image(png, 16, "squash"), want_squash)
    assert not np.array_equal(want_clean, want_squash)
    # the evaluation set: clean = crop; triggered = the squashed image with the trigger
    attack = AttackParams(patch_size=4, patch_location="corner", patch_noise="fixed")
    source = EagerPairs(DataParams(image_size=16), attack)
    rows = pd.DataFrame({"key": ["k0"], "png": [png]})
    ev = source.eval_set(rows, np.array([0]))
    clean = ev.clean[0].permute(1, 2, 0).numpy()
    trig = ev.triggered[0].permute(1, 2, 0).numpy()
    assert np.array_equal(clean, want_clean)
    assert np.array_equal(trig[:12, :12], want_squash[:12, :12])  # outside the corner patch


# 3. separate, traceable CC3M and CC6M configurations
def _paper_params(runtime: dict | None = None) -> BackdoorParams:
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(
        str(ROOT / "conf"),
        env="paper",
        base_env="base",
        default_run_env="local",
        runtime_params=runtime,
    )
    return BackdoorParams(**loader["parameters"]["backdoor"])


def test_cc3m_and_cc6m_configurations_follow_the_paper():
    cc3m = _paper_params()
    preset = yaml.safe_load((ROOT / "conf/paper/presets/backdoor_cc6m.yml").read_text())
    assert preset["run"]["env"] == "paper"
    cc6m = _paper_params(preset["run"]["params"])
    assert (cc3m.data.corpus, cc3m.attack.n_poison) == ("cc3m", 1500)
    assert (cc6m.data.corpus, cc6m.attack.n_poison) == ("cc6m", 3000)
    for p in (cc3m, cc6m):
        assert p.clean.optim.batch_size == 64 and p.clean.grids["mmcl"].batch_size == 128
        assert p.clean.optim.epochs == 20 and p.clean.optim.warmup_steps == 50
        assert p.data.class_order == "file" and p.attack.target == "banana"
        assert len(p.eval.templates) == 80
    points = lambda p, o: [g for g in clean_grid(p.clean) if g[0] == o]  # noqa: E731
    assert sorted({g[1] for g in points(cc6m, "mmcl")}) == [1e-4, 5e-4, 1e-3, 5e-3]
    assert len(points(cc6m, "mmcl_ssl")) == 4 * 5 and len(points(cc6m, "ssl")) == 4
    assert len(points(cc3m, "mmcl")) == 13 and len(points(cc3m, "ssl")) == 8
    assert len(points(cc3m, "mmcl_ssl")) == 13


def test_every_paper_value_names_its_source():
    text = (ROOT / "conf/paper/parameters_backdoor.yml").read_text().splitlines()
    start, end = text.index("  pretrain:"), text.index("  eval:")
    undocumented = [
        line
        for line in text[start:end]
        if ":" in line
        and not line.rstrip().endswith(":")
        and not line.lstrip().startswith("#")
        and "#" not in line
        and "fixed_epoch" not in line
    ]
    assert undocumented == []


# 4. classes are index-based: CLIP's 1,000 names, duplicates kept, banana = 954
def test_index_based_classes_keep_duplicate_names():
    concepts = pd.read_csv(CLASS_FILE, keep_default_na=False)
    assert len(concepts) == 1000 and concepts["concept"].iloc[954] == "banana"
    assert concepts.index[concepts["concept"] == "missile"].tolist() == [657, 744]
    data = DataParams(class_order="file", eval_source="table", n_test=4, n_selection=2)
    table = pd.DataFrame({"png": [b"x"] * 6, "label": [744, 657, 954, 836, 837, 1]})
    ev = D.eval_table_pairs(table, concepts)
    assert ev["label_index"].tolist() == [744, 657, 954, 836, 837, 1]
    classes, target = D.choose_classes(ev, "banana", data, 0, concepts)
    assert len(classes) == 1000 and classes.index(target) == 954
    split = D.split_pairs(pd.DataFrame(columns=ev.columns), classes, data, ev)
    idx = D.label_indices(split, classes, dict(zip(ev["key"], ev["label_index"], strict=True)))
    assert sorted(idx.tolist()) == [1, 657, 744, 836, 837, 954]
    scores = np.zeros((6, 1000))
    scores[:, 954] = 1.0  # every triggered image predicted banana
    assert E.attack_success_rate(scores, idx.to_numpy(), 954, 1) == 1.0
    assert E.accuracy(scores, idx.to_numpy(), 1) == pytest.approx(1 / 6)
