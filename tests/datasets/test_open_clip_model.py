"""OpenClipModelDataset: custom-config round trip, registration, paper-form errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError
from PIL import Image

from imitation_kedro.datasets import OpenClipModelDataset
from imitation_kedro.models.open_clip_bundle import OpenClipBundle, create_bundle

from .conftest import TINY_CLIP_CFG, TINY_RN_CFG


def _images(n: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]


def _features(bundle: OpenClipBundle) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.inference_mode():
        img = bundle.model.encode_image(torch.stack([bundle.preprocess(i) for i in _images()]))
        txt = bundle.model.encode_text(bundle.tokenizer(["a red square", "Gérard's café"]))
    return img.numpy(), txt.numpy()


@pytest.mark.parametrize("name,cfg", [("tiny-vit-rt", TINY_CLIP_CFG), ("tiny-rn-rt", TINY_RN_CFG)])
def test_round_trip_gives_equal_embeddings(name, cfg, tmp_path):
    import open_clip

    bundle = create_bundle(name, cfg, preprocess_cfg={"interpolation": "bilinear"}, seed=3)
    ds = OpenClipModelDataset(path=str(tmp_path / name))
    assert not ds.exists()
    ds.save(bundle)
    assert ds.exists()
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == [
        "open_clip_config.json", "open_clip_model.safetensors"]  # fmt: skip
    config = json.loads((tmp_path / name / "open_clip_config.json").read_text())
    assert config["model_name"] == name and config["model_cfg"] == cfg
    assert config["preprocess_cfg"]["interpolation"] == "bilinear"
    assert config["preprocess_cfg"]["size"] in (32, [32, 32])

    open_clip.factory._MODEL_CONFIGS.pop(name)  # as in a fresh process
    loaded = ds.load()
    assert name in open_clip.list_models()  # registered at load
    assert loaded.model_name == name and not loaded.model.training
    for before, after in zip(_features(bundle), _features(loaded), strict=True):
        np.testing.assert_array_equal(before, after)
    assert loaded.tokenizer(["x"]).shape == (1, 16)  # context length from the custom config
    other = create_bundle(name, cfg, seed=4)
    assert not np.allclose(_features(other)[0], _features(loaded)[0])  # weights really were loaded


def test_catalog_overwrite_and_versioning(tiny_clip_bundle, tmp_path):
    entry = {
        "type": "imitation_kedro.datasets.OpenClipModelDataset",
        "path": str(tmp_path / "clip"),
    }
    catalog = DataCatalog.from_config({"mdl_clip": entry})
    catalog.save("mdl_clip", tiny_clip_bundle)
    with pytest.raises(DatasetError, match="refusing to overwrite .*clip.*overwrite: true"):
        catalog.save("mdl_clip", tiny_clip_bundle)
    DataCatalog.from_config({"mdl_clip": {**entry, "overwrite": True}}).save(
        "mdl_clip", tiny_clip_bundle
    )

    versioned = DataCatalog.from_config(
        {"mdl_v": {**entry, "path": str(tmp_path / "v"), "versioned": True}}
    )
    versioned.save("mdl_v", tiny_clip_bundle)
    assert isinstance(versioned.load("mdl_v"), OpenClipBundle)


def test_corrupt_or_mismatched_directories(tiny_clip_bundle, tmp_path):
    path = tmp_path / "m"
    OpenClipModelDataset(path=str(path)).save(tiny_clip_bundle)
    config = json.loads((path / "open_clip_config.json").read_text())
    config["model_cfg"]["embed_dim"] = 24
    config["model_name"] = "tiny-vit-mismatch"
    (path / "open_clip_config.json").write_text(json.dumps(config))
    with pytest.raises(DatasetError, match="does not match the config"):
        OpenClipModelDataset(path=str(path)).load()

    (path / "open_clip_model.safetensors").rename(path / "open_clip_pytorch_model.bin")
    with pytest.raises(
        DatasetError, match=r"no open_clip_model.safetensors \(found pickle weights"
    ):
        OpenClipModelDataset(path=str(path)).load()
    with pytest.raises(DatasetError, match="no open_clip_config.json"):
        OpenClipModelDataset(path=str(tmp_path)).load()
    with pytest.raises(DatasetError, match=f"path does not exist: {tmp_path / 'nope'}"):
        OpenClipModelDataset(path=str(tmp_path / "nope")).load()


def test_builtin_architectures_are_not_shadowed():
    with pytest.raises(DatasetError, match="'RN50' is a built-in open_clip architecture"):
        create_bundle("RN50", TINY_RN_CFG)


def test_paper_form_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(DatasetError, match="`pretrained` .* is required"):
        OpenClipModelDataset(model_name="ViT-H-14")
    with pytest.raises(
        DatasetError, match="set HF_HUB_OFFLINE=0 or give a local directory"
    ) as info:
        OpenClipModelDataset(model_name="ViT-H-14", pretrained="laion2b_s32b_b79k").load()
    assert "laion/CLIP-ViT-H-14-laion2B-s32B-b79K" in str(info.value)
    with pytest.raises(DatasetError, match="set HF_HUB_OFFLINE=0"):
        OpenClipModelDataset(model_name="hf-hub:org/some-clip").load()
    with pytest.raises(DatasetError, match="neither a checkpoint file that exists nor a tag"):
        OpenClipModelDataset(model_name="RN50", pretrained=str(tmp_path / "missing.pt")).load()
    with pytest.raises(DatasetError, match="load_args \\['dtype'\\] unknown"):
        OpenClipModelDataset(model_name="RN50", pretrained="openai", load_args={"dtype": "fp16"})
    with pytest.raises(DatasetError, match="cannot save to model_name"):
        OpenClipModelDataset(model_name="RN50", pretrained="openai").save(object())


def test_paper_form_loads_a_local_checkpoint(tiny_clip_bundle, tmp_path):
    """`model_name` + a checkpoint file, as for CleanCLIP's RN50 checkpoints (here tiny)."""
    from safetensors.torch import save_model

    ckpt = tmp_path / "epoch_64.safetensors"
    save_model(tiny_clip_bundle.model, str(ckpt))
    loaded = OpenClipModelDataset(model_name="tiny-vit-test", pretrained=str(ckpt)).load()
    np.testing.assert_array_equal(_features(loaded)[0], _features(tiny_clip_bundle)[0])
    assert isinstance(Path(ckpt), Path)
