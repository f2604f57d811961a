"""The miniature text-to-image model's components: latent diffusion on a tiny PCA latent space.

Components of :class:`MiniatureTextToImagePipeline` (:mod:`.miniature_t2i_pipeline`, re-exported
here), each round-tripping with ``save_pretrained``/``from_pretrained`` as safetensors:

* ``tokenizer``: transformers ``CLIPTokenizer`` with OpenAI CLIP's vocabulary (built offline),
  padded with ``!`` (id 0) to the CLIP context length, as open_clip.
* ``text_encoder``: :class:`ClipTextTower`, the miniature CLIP's text tower, frozen (as SD
  freezes OpenAI CLIP's); its pooled output conditions the denoiser. The empty prompt is the
  unconditional input (caption dropout in training), so classifier-free guidance works as in SD.
* ``denoiser``: :class:`LatentDenoiser`, a residual MLP predicting the noise of a latent vector,
  FiLM-conditioned on the timestep and the text embedding.
* ``decoder``: :class:`PCAAutoencoder`, a whitened linear (PCA) autoencoder fitted on the corpus:
  the "VAE" mapping 32x32 RGB images to ``latent_dim`` numbers and back.
* ``scheduler``: a diffusers scheduler (DDIM by default; any epsilon-prediction scheduler works).

Saved pipelines name this module as the components' library (``model_index.json``), so the
component classes stay here. Half precision: every component computes in its parameters' dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput, ModelMixin  # noqa: F401 (loader)
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin  # noqa: F401 (loader)
from torch import nn

from imitation_kedro.models.miniature_t2i_pipeline import (  # the pipeline's historical home
    MiniatureTextToImagePipeline as MiniatureTextToImagePipeline,
)


class PCAAutoencoder(ModelMixin, ConfigMixin):
    """Whitened PCA: ``encode`` (N, 3, H, W) in [-1, 1] -> (N, latent_dim); ``decode`` back."""

    @register_to_config
    def __init__(self, latent_dim: int = 64, image_size: int = 32, channels: int = 3) -> None:
        super().__init__()
        dim = channels * image_size * image_size
        self.mean = nn.Parameter(torch.zeros(dim), requires_grad=False)
        self.components = nn.Parameter(torch.zeros(latent_dim, dim), requires_grad=False)
        self.scale = nn.Parameter(torch.ones(latent_dim), requires_grad=False)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, seed: int = 0) -> PCAAutoencoder:
        """Fit mean, principal components and per-component scale on (N, 3, H, W) images.

        Randomised SVD (``torch.svd_lowrank``, 4 power iterations, seeded: deterministic) costs
        O(N * dim * latent_dim) instead of O(N * dim^2) for the covariance.
        """
        n = images.shape[0]
        k = self.config.latent_dim
        if n < k:
            raise ValueError(f"PCA needs at least latent_dim={k} images, got {n}")
        flat = images.reshape(n, -1).float()
        mean = flat.mean(0)
        centred = flat - mean
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _, s, v = torch.svd_lowrank(centred, q=min(k + 16, *centred.shape), niter=4)
        comps = v[:, :k].T.contiguous()
        # Fix each component's sign (largest |weight| positive) so the fit is deterministic.
        signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
        self.mean.copy_(mean)
        self.components.copy_(comps * signs)
        self.scale.copy_((s[:k] / math.sqrt(max(1, n - 1))).clamp_min(1e-6))
        return self

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.reshape(images.shape[0], -1)
        return ((flat - self.mean) @ self.components.T) / self.scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        size, ch = self.config.image_size, self.config.channels
        flat = (latents * self.scale) @ self.components + self.mean
        return flat.reshape(latents.shape[0], ch, size, size)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, as in DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class _Block(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.fc2 = nn.Linear(2 * hidden, hidden)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).chunk(2, dim=1)
        x = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(torch.nn.functional.silu(self.fc1(x)))


class LatentDenoiser(ModelMixin, ConfigMixin):
    """Residual MLP: (noisy latent, timestep, text embedding) -> predicted noise."""

    @register_to_config
    def __init__(
        self, latent_dim: int = 64, cond_dim: int = 64, hidden: int = 512, blocks: int = 3,
        time_dim: int = 64,
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(latent_dim, hidden)
        self.emb = nn.Sequential(
            nn.Linear(time_dim + cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.res_blocks = nn.ModuleList([_Block(hidden) for _ in range(blocks)])
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(latents.shape[0])
        t_emb = timestep_embedding(timesteps, self.config.time_dim).to(self.inp.weight.dtype)
        emb = self.emb(torch.cat([t_emb, cond], dim=1))
        h = self.inp(latents)
        for block in self.res_blocks:
            h = block(h, emb)
        return self.out(self.out_norm(h))


class ClipTextTower(ModelMixin, ConfigMixin):
    """A CLIP text tower (open_clip's ``TextTransformer``) as a diffusers model.

    ``forward(input_ids)`` returns the pooled, projected text features, L2-normalised and scaled
    by ``sqrt(embed_dim)``. Built from the miniature CLIP (:meth:`from_open_clip`) and frozen, as
    Stable Diffusion freezes its CLIP text encoder.
    """

    @register_to_config
    def __init__(self, embed_dim: int = 64, text_cfg: dict | None = None) -> None:
        super().__init__()
        from open_clip.model import CLIPTextCfg, _build_text_tower

        self.text = _build_text_tower(embed_dim, CLIPTextCfg(**(text_cfg or {})))

    @classmethod
    def from_open_clip(cls, clip_model: Any, embed_dim: int, text_cfg: dict) -> ClipTextTower:
        """Copy the text tower of an ``open_clip.CLIP`` (strict: every weight must match)."""
        tower = cls(embed_dim=embed_dim, text_cfg=dict(text_cfg))
        skip = ("visual.", "logit_scale", "logit_bias")
        state = {k: v for k, v in clip_model.state_dict().items() if not k.startswith(skip)}
        tower.text.load_state_dict(state, strict=True)
        tower.requires_grad_(False)
        return tower.eval()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        feats = self.text(input_ids)
        return torch.nn.functional.normalize(feats, dim=-1) * math.sqrt(self.config.embed_dim)


def images_to_model_space(pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1] (the decoder's pixel space)."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0
