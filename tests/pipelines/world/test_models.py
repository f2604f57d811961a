"""Miniature model components on their own (tiny sizes, no world needed)."""

from __future__ import annotations

import numpy as np
import pytest


def test_pca_autoencoder_reconstructs_low_rank_images_and_round_trips(tmp_path):
    torch = pytest.importorskip("torch")
    from imitation_kedro.models.miniature_t2i import PCAAutoencoder

    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(8, 3 * 32 * 32, generator=gen)
    images = (torch.randn(300, 8, generator=gen) @ basis).reshape(300, 3, 32, 32) * 0.05
    pca = PCAAutoencoder(latent_dim=8).fit(images)
    z = pca.encode(images)
    assert z.shape == (300, 8)
    assert torch.allclose(z.std(0), torch.ones(8), atol=0.05)  # whitened latents
    assert torch.allclose(pca.decode(z), images, atol=1e-3)
    again = PCAAutoencoder(latent_dim=8).fit(images)
    assert torch.equal(again.components, pca.components)  # deterministic
    pca.save_pretrained(tmp_path / "pca")
    loaded = PCAAutoencoder.from_pretrained(tmp_path / "pca")
    assert torch.equal(loaded.components, pca.components)
    assert list((tmp_path / "pca").glob("*.safetensors"))
    with pytest.raises(ValueError, match="latent_dim=8"):
        PCAAutoencoder(latent_dim=8).fit(images[:4])


def test_clip_text_tower_copies_the_open_clip_text_features():
    pytest.importorskip("open_clip")
    import open_clip
    import torch

    from imitation_kedro.models.miniature_clip import MODEL_NAME, miniature_clip_config
    from imitation_kedro.models.miniature_t2i import ClipTextTower
    from imitation_kedro.models.open_clip_bundle import create_bundle
    from imitation_kedro.models.tokenizer import clip_tokenizer

    cfg = miniature_clip_config(embed_dim=16, vision_width=32, text_width=32, context_length=16)
    bundle = create_bundle(MODEL_NAME, model_cfg=cfg, seed=3)
    tower = ClipTextTower.from_open_clip(bundle.model, cfg["embed_dim"], cfg["text_cfg"])
    texts = ["an image of Ray Moss", "a photo of a dog"]
    tok = clip_tokenizer(model_max_length=16, pad_token="!")
    ids = tok(texts, padding="max_length", max_length=16, truncation=True, return_tensors="pt").input_ids
    assert torch.equal(ids, open_clip.tokenize(texts, context_length=16))
    with torch.no_grad():
        ours = tower(ids) / np.sqrt(16)
        theirs = bundle.model.encode_text(ids, normalize=True)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_latent_denoiser_computes_in_its_parameters_dtype():
    """The fp32 timestep embedding is cast to the weights' dtype, so `.to(torch.bfloat16)` works."""
    torch = pytest.importorskip("torch")
    from imitation_kedro.models.miniature_t2i import LatentDenoiser

    torch.manual_seed(0)
    net = LatentDenoiser(latent_dim=8, cond_dim=8, hidden=16, blocks=1, time_dim=8)
    torch.nn.init.normal_(net.out.weight, std=0.1)
    z, cond, t = torch.randn(3, 8), torch.randn(3, 8), torch.tensor([1, 250, 999])
    with torch.no_grad():
        ref = net(z, t, cond)
        half = net.to(torch.bfloat16)(z.bfloat16(), t, cond.bfloat16())
    assert half.dtype == torch.bfloat16
    assert (half.float() - ref).abs().max() < 0.05 * ref.abs().max()
