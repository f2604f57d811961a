"""CSD style embedder: the published layout loads from a local file (reduced width, same code)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from imitation_kedro.models.csd import (  # noqa: E402
    CheckpointError,
    CSDConfig,
    CSDEmbedder,
    CSDModel,
    load_csd_model,
)

SMALL = CSDConfig(image_size=28, patch_size=14, width=64, layers=2, heads=1, style_dim=32)


def _authors_layout(model: CSDModel) -> dict:
    """The CSD training script's checkpoint: {'model_state_dict': {'module.<key>': tensor}}."""
    return {"model_state_dict": {f"module.{k}": v.clone() for k, v in model.state_dict().items()}}


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (40, 36, 3), dtype=np.uint8)) for _ in range(n)]


def _documented(image: Image.Image, size: int) -> torch.Tensor:
    """Reference 3.4: Resize(size, bicubic) -> CenterCrop(size) -> ToTensor -> CLIP normalise."""
    from torchvision import transforms as T

    return T.Compose([
        T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size), T.ToTensor(),
        T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])(image)


def test_uint8_prepare_and_device_normalise_equal_the_documented_transform(small_model):
    # prepare: uint8 resize + crop only; to_batch: ToTensor scaling + Normalize, same float ops
    emb = CSDEmbedder(small_model, batch_size=4)
    images = _images(3) + [Image.fromarray(np.zeros((50, 90, 3), np.uint8) + 200)]
    prepared = [emb.prepare(im) for im in images]
    assert all(p.dtype == np.uint8 and p.shape == (28, 28, 3) for p in prepared)
    batch = emb.to_batch(prepared)
    expected = torch.stack([_documented(im, 28) for im in images])
    assert batch.dtype == torch.float32 and batch.is_contiguous()
    assert torch.equal(batch, expected)  # bit for bit


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return CSDModel(SMALL).eval()


def test_published_shape_matches_the_csd_checkpoint_layout():
    # ViT-L/14: 24 blocks of width 1024, style head 1024 x 768, no CLIP projection
    cfg = CSDConfig.vit_large()
    assert (cfg.width, cfg.layers, cfg.heads, cfg.patch_size, cfg.style_dim) == (1024, 24, 16, 14, 768)
    with torch.device("meta"):
        model = CSDModel(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["last_layer_style"] == (1024, 768)
    assert shapes["backbone.conv1.weight"] == (1024, 3, 14, 14)
    assert shapes["backbone.positional_embedding"] == (257, 1024)
    assert "backbone.proj" not in shapes
    assert "backbone.transformer.resblocks.23.attn.in_proj_weight" in shapes


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_load_from_local_file_reproduces_the_model(tmp_path, small_model, fmt):
    path = tmp_path / f"style_checkpoint.{fmt}"
    if fmt == "pth":
        torch.save(_authors_layout(small_model), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in small_model.state_dict().items()}, str(path))
    loaded = load_csd_model(path)
    assert loaded.config == CSDConfig(28, 14, 64, 2, 1, 32)  # read back from the shapes
    emb = CSDEmbedder(loaded, batch_size=2)
    images = _images(3)
    out = emb.embed(images)
    assert out.shape == (3, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    with torch.inference_mode():  # the documented transform, one image at a time, then the model
        direct = small_model(torch.stack([_documented(im, 28) for im in images])).numpy()
    np.testing.assert_allclose(out, direct, atol=1e-5)
    # style, not pixels: a different image gets a different vector
    assert float(out[0] @ out[1]) < 0.9999


def test_wrong_or_unsafe_checkpoints_fail_with_the_reason(tmp_path, small_model):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_csd_model(tmp_path / "nope.pth")
    broken = _authors_layout(small_model)
    del broken["model_state_dict"]["module.last_layer_style"]
    torch.save(broken, tmp_path / "no_head.pth")
    with pytest.raises(CheckpointError, match="last_layer_style"):
        load_csd_model(tmp_path / "no_head.pth")
    extra = _authors_layout(small_model)
    extra["model_state_dict"]["module.classifier.weight"] = torch.zeros(3)
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match="unexpected.*classifier"):
        load_csd_model(tmp_path / "extra.pth")

    import argparse  # the authors' checkpoint also pickles its argparse.Namespace

    torch.save({"model_state_dict": {}, "args": argparse.Namespace(lr=1)}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match="weights_only"):
        load_csd_model(tmp_path / "pickled.pth")


def test_factory_builds_csd_with_a_weights_fingerprint_name(tmp_path, small_model):
    from imitation_kedro.models.embedder_factory import build_embedder
    from imitation_kedro.pipelines.similarity.params import EmbedderParams

    path = tmp_path / "csd.pth"
    torch.save(_authors_layout(small_model), path)
    emb = build_embedder(EmbedderParams(kind="csd", checkpoint=str(path), batch_size=4))
    assert emb.dim == 32 and emb.name.startswith("csd-") and len(emb.name) == 16
    out = emb.embed(_images(2))
    assert np.isfinite(out).all()


class _NotATensor:
    """A pickled object a weights-only load must refuse."""


def test_convert_to_safetensors_allows_the_args_namespace_and_refuses_other_objects(tmp_path):
    import argparse

    import torch
    from safetensors.torch import load_file

    from imitation_kedro.models.csd import CheckpointError, convert_to_safetensors

    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    ok = tmp_path / "style_checkpoint.pth"
    torch.save({"model_state_dict": {"module.proj": weight}, "args": argparse.Namespace(lr=1)}, ok)
    out = convert_to_safetensors(ok, tmp_path / "style.safetensors")
    assert torch.equal(load_file(str(out))["proj"], weight)

    bad = tmp_path / "evil.pth"
    torch.save({"model_state_dict": {"proj": weight}, "payload": _NotATensor()}, bad)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        convert_to_safetensors(bad, tmp_path / "evil.safetensors")
