"""CLIP objectives (reference section 1). Features are L2-normalised; ``scale = exp(logit_scale)``.

MMCL     = 1/2 [CE(s I T^T) + CE(s T I^T)]
SSL      = 1/2 [CE(s I I~^T) + CE(s T T~^T)]   one-directional: rows originals, columns augmented;
                                               the temperature is shared with MMCL
MMCL+SSL = l1 MMCL + l2 SSL
SigLIP   = w mean_ij(-log sigmoid(z_ij (s I_i.T_j + b))), z_ii = 1, z_ij = -1; ``bias=None`` is the
           original's bias-free variant (named fidelity variant ``siglip``), ``siglip_bias`` learns b.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def diagonal_ce(logits: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy with the diagonal as targets."""
    import torch
    import torch.nn.functional as F

    return F.cross_entropy(logits, torch.arange(logits.shape[0], device=logits.device))


def mmcl_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric CLIP loss."""
    logits = scale * img @ txt.T
    return 0.5 * (diagonal_ce(logits) + diagonal_ce(logits.T))


def ssl_loss(
    img: torch.Tensor,
    img_aug: torch.Tensor,
    txt: torch.Tensor,
    txt_aug: torch.Tensor,
    scale: torch.Tensor,
) -> torch.Tensor:
    """In-modal loss: originals (rows) against augmented views (columns), shared temperature."""
    return 0.5 * (diagonal_ce(scale * img @ img_aug.T) + diagonal_ce(scale * txt @ txt_aug.T))


def siglip_loss(
    img: torch.Tensor,
    txt: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor | None = None,
    weight: float = 0.1,
) -> torch.Tensor:
    """Sigmoid loss averaged over all N x N pairs."""
    import torch
    import torch.nn.functional as F

    logits = scale * img @ txt.T
    if bias is not None:
        logits = logits + bias
    z = 2 * torch.eye(logits.shape[0], device=logits.device) - 1
    return weight * (-F.logsigmoid(z * logits)).mean()


def gather_features(x: torch.Tensor) -> torch.Tensor:
    """All-gather without gradient, local shard put back (open_clip ``gather_with_grad=False``).

    Single process: returns ``x``. With torch.distributed initialised, the logits are global
    (N x N over all ranks) while gradients flow through the local features only.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    world = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([len(x)], device=x.device))
    sizes = [int(s.item()) for s in sizes]
    most = max(sizes)  # ranks may hold fewer rows (streaming drops undecodable images): pad, trim
    pad = torch.zeros((most - len(x), *x.shape[1:]), dtype=x.dtype, device=x.device)
    parts = [torch.zeros((most, *x.shape[1:]), dtype=x.dtype, device=x.device) for _ in sizes]
    dist.all_gather(parts, torch.cat([x.detach(), pad]))
    parts = [p[:n] for p, n in zip(parts, sizes, strict=True)]
    parts[dist.get_rank()] = x
    return torch.cat(parts, dim=0)


def objective_loss(
    objective: str,
    feats: dict[str, torch.Tensor],
    scale: torch.Tensor,
    lambda_mmcl: float,
    lambda_ssl: float,
    bias: torch.Tensor | None = None,
    siglip_weight: float = 0.1,
) -> torch.Tensor:
    """The loss of one named objective from gathered, normalised features.

    ``feats`` holds ``img``, ``txt`` and, for SSL objectives, ``img_aug``, ``txt_aug``.
    ``mmcl`` is lambda_mmcl * MMCL; ``ssl`` is lambda_ssl * SSL; ``mmcl_ssl`` both.
    """
    if objective == "mmcl":
        return lambda_mmcl * mmcl_loss(feats["img"], feats["txt"], scale)
    if objective in ("ssl", "mmcl_ssl"):
        ssl = ssl_loss(feats["img"], feats["img_aug"], feats["txt"], feats["txt_aug"], scale)
        if objective == "ssl":
            return lambda_ssl * ssl
        return lambda_mmcl * mmcl_loss(feats["img"], feats["txt"], scale) + lambda_ssl * ssl
    if objective == "siglip":
        return siglip_loss(feats["img"], feats["txt"], scale, None, siglip_weight)
    if objective == "siglip_bias":
        if bias is None:
            raise ValueError("objective 'siglip_bias' needs a learnable bias")
        return siglip_loss(feats["img"], feats["txt"], scale, bias, siglip_weight)
    raise ValueError(f"unknown objective {objective!r}")


def needs_views(objective: str) -> bool:
    """Whether an objective forwards augmented views (2N images and texts per step)."""
    return objective in ("ssl", "mmcl_ssl")
