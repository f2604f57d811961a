"""CSD style embedder (Somepalli et al., *Measuring Style Similarity in Diffusion Models*).

Architecture (CSD ``CSD_CLIP``, ``name='vit_large'``): the OpenAI CLIP ViT-L/14 visual tower with
its projection removed (``backbone.proj = None``) plus two 1024x768 projection matrices,
``last_layer_style`` and ``last_layer_content``. The style embedding is
``normalize(backbone(x) @ last_layer_style)``. Preprocessing as in FIT (reference section 3.4):
``Resize(224, bicubic) -> CenterCrop(224) -> ToTensor -> CLIP normalise``.

The backbone is built with open_clip's ``VisionTransformer`` (QuickGELU, as OpenAI CLIP), whose
parameter names equal OpenAI CLIP's, so the authors' checkpoint (keys ``module.backbone.*``,
``module.last_layer_style``) loads without renaming beyond the ``module.`` prefix. The
architecture is read from the checkpoint's shapes, so a reduced-width test model goes through the
same code. Weights: ``.safetensors`` or a torch file read with ``weights_only=True`` only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_BLOCK = re.compile(r"^backbone\.transformer\.resblocks\.(\d+)\.")


class CheckpointError(ValueError):
    """A CSD checkpoint is missing, unsafe, or does not hold a CSD model."""


@dataclass(frozen=True)
class CSDConfig:
    """Shape of the CSD backbone; :meth:`vit_large` is the published model."""

    image_size: int = 224
    patch_size: int = 14
    width: int = 1024
    layers: int = 24
    heads: int = 16
    style_dim: int = 768

    @classmethod
    def vit_large(cls) -> CSDConfig:
        return cls()

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], head_width: int = 64) -> CSDConfig:
        """Infer the architecture from a (prefix-stripped) CSD state dict."""
        try:
            conv = state["backbone.conv1.weight"]
            pos = state["backbone.positional_embedding"]
            style = state["last_layer_style"]
        except KeyError as exc:
            raise CheckpointError(f"not a CSD state dict: key {exc.args[0]!r} is missing") from None
        width, _, patch, _ = conv.shape
        grid = int(round((pos.shape[0] - 1) ** 0.5))
        layers = 1 + max(int(m.group(1)) for k in state if (m := _BLOCK.match(k)))
        return cls(
            image_size=grid * patch,
            patch_size=patch,
            width=width,
            layers=layers,
            heads=max(1, width // head_width),
            style_dim=style.shape[1],
        )


class CSDModel(nn.Module):
    """CLIP ViT visual backbone (no projection) + the CSD style and content heads."""

    def __init__(self, config: CSDConfig) -> None:
        super().__init__()
        from open_clip.model import QuickGELU
        from open_clip.transformer import VisionTransformer

        self.config = config
        self.backbone = VisionTransformer(
            image_size=config.image_size,
            patch_size=config.patch_size,
            width=config.width,
            layers=config.layers,
            heads=config.heads,
            mlp_ratio=4.0,
            output_dim=config.style_dim,
            act_layer=QuickGELU,
        )
        scale = config.width**-0.5
        self.last_layer_style = nn.Parameter(scale * torch.randn(config.width, config.style_dim))
        self.last_layer_content = nn.Parameter(scale * torch.randn(config.width, config.style_dim))
        self.backbone.proj = None  # CSD drops CLIP's projection; the heads replace it

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised style embeddings of a ``(n, 3, H, W)`` CLIP-normalised batch."""
        features = self.backbone(pixels)
        return nn.functional.normalize(features @ self.last_layer_style, dim=1, p=2)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"CSD checkpoint {str(path)!r} does not exist (set embedder.checkpoint)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw: Any = load_file(str(path))
    else:
        try:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle with non-tensor objects (e.g. argparse.Namespace)
            raise CheckpointError(
                f"{path} cannot be read with torch.load(weights_only=True) ({type(exc).__name__}: "
                f"{str(exc)[:200]}). Convert it once, in a trusted environment, with "
                "`imitation_kedro.models.csd.convert_to_safetensors` and point embedder.checkpoint "
                "at the .safetensors file."
            ) from None
    if isinstance(raw, dict) and "model_state_dict" in raw:
        raw = raw["model_state_dict"]
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(raw).__name__}")
    return {k.removeprefix("module."): v for k, v in raw.items() if isinstance(v, torch.Tensor)}


def load_csd_model(path: str | Path, head_width: int = 64) -> CSDModel:
    """Build a :class:`CSDModel` shaped like the checkpoint at ``path`` and load its weights.

    Every backbone and style-head parameter must be present with the right shape; extra keys
    other than the content head are an error naming them (a wrong checkpoint, not a CSD one).
    """
    path = Path(path)
    state = _read_state_dict(path)
    config = CSDConfig.from_state_dict(state, head_width)
    model = CSDModel(config)
    expected = model.state_dict()
    if "last_layer_content" not in state:  # content head is optional (unused for style)
        state["last_layer_content"] = expected["last_layer_content"]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: not a CSD checkpoint of the expected layout; missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
        )
    bad = [k for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(
            f"{path}: {k} has shape {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


def convert_to_safetensors(src: str | Path, dst: str | Path) -> Path:
    """One-off conversion of the authors' pickled checkpoint to safetensors.

    Loads with ``weights_only=True``; the CSD checkpoint also stores its training ``argparse``
    namespace, which is allow-listed. Anything else that needs arbitrary unpickling is refused.
    """
    import argparse

    from safetensors.torch import save_file

    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            raw = torch.load(str(src), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
            raise CheckpointError(
                f"{src}: cannot be loaded with weights_only=True ({type(exc).__name__}: {exc}); "
                "it holds objects other than tensors, so it is not converted"
            ) from None
    raw = raw.get("model_state_dict", raw)
    state = {k.removeprefix("module."): v.contiguous() for k, v in raw.items() if torch.is_tensor(v)}
    save_file(state, str(dst))
    return Path(dst)


def file_fingerprint(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a weights file (cache keys change when the weights do)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class CSDEmbedder:
    """:class:`~imitation_kedro.models.embedders.ImageEmbedder` over a CSD model.

    ``prepare`` (thread-safe, CPU, no torch op) turns one image into the uint8 ``(224, 224, 3)``
    array of ``Resize(bicubic) -> CenterCrop`` (PIL, as the authors); ``embed_prepared`` stacks a
    batch, moves the uint8 bytes to the device (pinned, non-blocking on a GPU) and does
    ``ToTensor`` + CLIP ``Normalize`` there before the forward (:class:`PixelPipeline`: the same
    float32 operations as :attr:`transform`). ``embed`` does both for a list of PIL images.
    """

    def __init__(
        self,
        model: CSDModel,
        batch_size: int = 64,
        device: str = "cpu",
        precision: str = "fp32",
        name: str = "csd",
    ) -> None:
        from torchvision import transforms as T

        from imitation_kedro.models.embedders import PixelPipeline

        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.dim = model.config.style_dim
        self.name = name
        self._autocast = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        size = model.config.image_size
        #: the documented preprocessing (reference 3.4), one image -> normalised float tensor
        self.transform = T.Compose(
            [
                T.Resize(size, interpolation=T.InterpolationMode.BICUBIC),
                T.CenterCrop(size),
                T.ToTensor(),
                T.Normalize(CLIP_MEAN, CLIP_STD),
            ]
        )
        self.pixels = PixelPipeline.from_transform(self.transform)

    def prepare(self, image: Image.Image) -> np.ndarray:
        return self.pixels(image)

    def to_batch(self, prepared: list[np.ndarray]) -> torch.Tensor:
        """The normalised float32 input batch on the model's device."""
        return self.pixels.to_batch(prepared, self.device)

    @torch.inference_mode()
    def embed_prepared(self, prepared: list[np.ndarray]) -> np.ndarray:
        out = []
        for start in range(0, len(prepared), self.batch_size):
            batch = self.to_batch(prepared[start : start + self.batch_size])
            if self._autocast is not None and self.device.type == "cuda":
                with torch.autocast("cuda", dtype=self._autocast):
                    emb = self.model(batch)
            else:
                emb = self.model(batch)
            out.append(nn.functional.normalize(emb.float(), dim=1).cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def embed(self, images: list[Image.Image]) -> np.ndarray:
        return self.embed_prepared([self.prepare(im) for im in images])
