"""Pre-training and CleanCLIP loops (torch imported lazily, inside functions).

One loop serves both: AdamW (no decay on bn/ln/bias/logit_scale), linear warm-up then cosine to 0,
the logit scale clamped to [0, ln 100] after every step, a fresh optimiser unless a state is given
(B2), seeded batch order and augmentation, per-epoch checkpoints for resuming (an
``EpochCheckpoints`` store from the catalog). The model is an ``OpenClipBundle`` built in
``imitation_kedro.models`` (:func:`build_model`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from imitation_kedro.core.progress import progress
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.models.clip_checkpoints import EpochCheckpoints, load_state
from imitation_kedro.models.open_clip_bundle import OpenClipBundle
from imitation_kedro.models.untrained_clip import untrained_clip

from .augment import make_image_augmenter
from .distributed import barrier, rank_world
from .losses import gather_features, needs_views, objective_loss
from .params import ModelParams, OptimParams

logger = logging.getLogger(__name__)


def build_model(
    spec: ModelParams, logit_scale_init: float, seed: int, device: str = "cpu"
) -> OpenClipBundle:
    """An untrained open_clip CLIP from a registered name or an explicit cfg (no weights, B16),
    initialised from ``seed`` (the same weights for the same seed in every run)."""
    return untrained_clip(
        spec.name,
        spec.cfg,
        spec.register_fn,
        spec.context_length,
        seed=stable_seed("backdoor-init", seed) % 2**31,
        logit_scale_init=logit_scale_init,
        device=device,
    )


def normalise(batch: Any, bundle: OpenClipBundle) -> Any:
    """uint8 ``B x 3 x H x W`` -> the model's normalised float input."""
    import torch

    mean = torch.tensor(bundle.preprocess_cfg["mean"], device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(bundle.preprocess_cfg["std"], device=batch.device).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


@dataclass
class TrainData:
    """Aligned tensors: images (uint8), tokens, augmented-caption tokens (same row order)."""

    images: Any
    tokens: Any
    tokens_aug: Any

    def __post_init__(self) -> None:
        n = {len(self.images), len(self.tokens), len(self.tokens_aug)}
        if len(n) != 1:
            raise ValueError(f"misaligned training tensors: lengths {sorted(n)}")

    def batches(self, idx: list[Any], epoch: int, seed: int, augment: Any):
        """(images, tokens, augmented tokens, None) per index batch (``streaming.StreamData``
        has the same method, decoding per batch)."""
        for i in idx:
            yield self.images[i], self.tokens[i], self.tokens_aug[i], None

    def close(self) -> None:
        """Nothing to end (``streaming.StreamData`` ends its loader workers)."""


@dataclass
class TrainResult:
    state_dict: dict[str, Any]
    optimizer_state: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    pairs_per_s: float = 0.0
    seconds: float = 0.0


def make_optimizer(model: Any, optim: OptimParams, lr: float, extra: list[Any] | None = None):
    """AdamW with weight decay off for parameters whose names contain a no-decay key."""
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if any(k in name for k in optim.no_decay_keys) else decay).append(p)
    no_decay += list(extra or [])
    # the fused kernel (CPU and CUDA) is the same update in one pass: ~10x faster than the default
    # per-tensor loop on CPU, where the 49,408-row token embedding dominates the step
    fused = all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in decay + no_decay
    )
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        betas=(0.9, 0.999),
        eps=1e-8,
        fused=fused or None,
    )


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps, then cosine to 0 at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))

    return f


def train(
    bundle: OpenClipBundle,
    data: Any,
    objective: str,
    optim: OptimParams,
    lr: float,
    lambda_mmcl: float,
    lambda_ssl: float,
    logit_scale_max: float,
    seed: int,
    image_aug: str = "autoaugment",
    siglip_weight: float = 0.1,
    aug_group: int = 1,
    eval_fn: Callable[[Any, int], list[dict[str, Any]]] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    checkpoints: EpochCheckpoints | None = None,
    desc: str = "train",
    eval_every: int = 1,
    eval_start: bool = True,
) -> TrainResult:
    """Train ``bundle.model`` in place for ``optim.epochs`` epochs; evaluate after each epoch.

    ``checkpoints``: the run's resume store; each finished epoch is saved into it and a run
    that finds a saved epoch continues after it.
    """
    import torch

    model = bundle.model
    device = next(model.parameters()).device
    # learnable SigLIP bias (objective siglip_bias), trained beside the model
    bias = (
        torch.nn.Parameter(torch.tensor(-10.0, device=device))
        if objective == "siglip_bias"
        else None
    )
    opt = make_optimizer(model, optim, lr, [bias] if bias is not None else [])
    if optimizer_state is not None:  # reproduces the original quirk only when asked (B2)
        opt.load_state_dict(optimizer_state)
    rank, world = rank_world()
    net = model
    if world > 1:  # data-parallel (torchrun): gradients all-reduced, logits global via gather
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    n = len(data.tokens)
    bs = min(optim.batch_size, n)
    if bs % world:
        raise ValueError(f"global batch_size {bs} is not divisible by {world} processes")
    if world > 1 and optim.shards != world:
        raise ValueError(
            f"{desc}: optim.shards={optim.shards} but {world} processes: BatchNorm statistics are "
            f"per shard, so set optim.shards: {world} (or run on {optim.shards} processes)"
        )
    local_shards = optim.shards if world == 1 else 1
    steps_per_epoch = max(1, n // bs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(optim.warmup_steps, steps_per_epoch * optim.epochs)
    )
    augment = make_image_augmenter(image_aug, aug_group) if needs_views(objective) else None

    def evaluated(epoch: int) -> bool:  # every eval_every-th epoch and the last
        return epoch % eval_every == 0 or epoch == optim.epochs

    try:
        metrics = list(eval_fn(model, 0)) if eval_fn and eval_start else []
        start_epoch = _resume(model, opt, sched, checkpoints)
        if eval_fn and start_epoch:  # the evaluated epochs before the resume point
            done = [e for e in range(1, start_epoch + 1) if evaluated(e)]
            metrics.extend(_evaluate_saved(model, checkpoints, done, eval_fn))
        train_s, seen = 0.0, 0
        for epoch in progress(
            range(start_epoch + 1, optim.epochs + 1),
            desc=desc,
            unit="epoch",
            total=optim.epochs - start_epoch,
        ):
            model.train()
            gen = torch.Generator().manual_seed(stable_seed(seed, "order", epoch) % 2**63)
            torch.manual_seed(stable_seed(seed, "augment", epoch) % 2**63)
            order = torch.randperm(n, generator=gen)
            t0, loss = time.perf_counter(), None
            shards = [order[b * bs : (b + 1) * bs][rank::world] for b in range(steps_per_epoch)]
            for imgs, toks, toks_aug, imgs_aug in data.batches(shards, epoch, seed, augment):
                if imgs is None:  # streaming: every image of this local batch failed to decode
                    if world > 1:
                        raise ValueError(f"{desc}: a local batch has no decodable image")
                    continue
                loss = _step_loss(
                    bundle,
                    net,
                    (imgs, toks, toks_aug, imgs_aug),
                    objective,
                    augment,
                    (lambda_mmcl, lambda_ssl, siglip_weight),
                    bias,
                    device,
                    local_shards,
                )
                if world > 1:  # DDP averages the ranks' partial gradients: sum them instead,
                    loss = loss * world  # so a step equals the single-process full-batch step
                opt.zero_grad(set_to_none=True)
                loss.backward()
                _shared_grads(model, bias, world)
                opt.step()
                sched.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, logit_scale_max)
                seen += len(imgs) * world
            train_s += time.perf_counter() - t0
            _rank0_buffers(model, world)  # every rank evaluates and keeps rank 0's BatchNorm stats
            if loss is None:
                raise ValueError(f"{desc}: no batch of epoch {epoch} had a decodable image")
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"{desc}: loss is {loss.item()} at epoch {epoch}")
            if eval_fn and evaluated(epoch):
                metrics.extend(eval_fn(model, epoch))
            if checkpoints is not None and rank == 0:  # rank 0 writes, the others wait
                state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
                checkpoints.save(epoch, model.state_dict(), state)
            barrier()
    finally:  # streaming: the loader workers persist across epochs, end with the run
        data.close()
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return TrainResult(
        state, opt.state_dict(), metrics, seen / train_s if train_s else 0.0, train_s
    )


def _step_loss(
    bundle: OpenClipBundle,
    net: Any,
    batch: tuple[Any, Any, Any, Any],
    objective: str,
    augment: Any,
    weights: tuple[float, float, float],
    bias: Any,
    device: Any,
    shards: int = 1,
) -> Any:
    """The objective's loss on one batch (``weights``: lambda_mmcl, lambda_ssl, siglip_weight);
    ``shards`` forwards per local batch (one process standing in for that many ranks)."""
    import torch

    lambda_mmcl, lambda_ssl, siglip_weight = weights
    model = bundle.model
    imgs, toks, toks_aug, imgs_aug = batch
    if augment is not None and imgs_aug is None:
        imgs_aug = augment(imgs)
    parts: dict[str, list[Any]] = {"img": [], "txt": [], "img_aug": [], "txt_aug": []}
    # one forward per shard (strided, as torchrun ranks get them): BatchNorm statistics per shard
    for s in range(shards):
        sl = slice(s, None, shards)
        x, t, k = imgs[sl], toks[sl], len(imgs[sl])
        if augment is not None:  # 2k images and 2k texts in one forward, then split
            x, t = torch.cat([x, imgs_aug[sl]]), torch.cat([t, toks_aug[sl]])
        with _running_stats(model, s == 0):  # DDP keeps rank 0's BatchNorm running statistics
            out = net(normalise(x.to(device), bundle), t.to(device))  # normalised features
        img, txt = (
            (out["image_features"], out["text_features"]) if isinstance(out, dict) else out[:2]
        )
        parts["img"].append(img[:k])
        parts["txt"].append(txt[:k])
        parts["img_aug"].append(img[k:])
        parts["txt_aug"].append(txt[k:])
    names = ["img", "txt", "img_aug", "txt_aug"] if augment is not None else ["img", "txt"]
    feats = {n: gather_features(torch.cat(parts[n])) for n in names}
    return objective_loss(
        objective,
        feats,
        model.logit_scale.exp(),
        lambda_mmcl,
        lambda_ssl,
        bias,
        siglip_weight,
    )


@contextmanager
def _running_stats(model: Any, update: bool) -> Iterator[None]:
    """BatchNorm layers use batch statistics and, unless ``update``, leave their running
    statistics alone (the shards after the first stand in for ranks whose buffers DDP replaces
    by rank 0's)."""
    if update:
        yield
        return
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in norms]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, t in zip(norms, tracked, strict=True):
            m.track_running_stats = t


def _rank0_buffers(model: Any, world: int) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank; DDP only copies them at
    the next forward."""
    if world == 1:
        return
    import torch.distributed as dist

    for b in model.buffers():
        dist.broadcast(b, 0)


def _shared_grads(model: Any, bias: Any, world: int) -> None:
    """Parameters every rank sees whole (the logit scale, the SigLIP bias) got ``world`` x their
    gradient from the scaled loss: put them back to the one-process value."""
    if world == 1:
        return
    for p in (model.logit_scale, bias):
        if p is not None and p.grad is not None:
            p.grad.div_(world)


def _evaluate_saved(
    model: Any, checkpoints: EpochCheckpoints, epochs: list[int], eval_fn: Callable
) -> list[dict[str, Any]]:
    """Evaluate saved epochs again (so a resumed run's metrics and kept checkpoint equal an
    uninterrupted run's), then put the model's current (resumed) weights back."""
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows: list[dict[str, Any]] = []
    for epoch in epochs:
        load_state(model, checkpoints.load(epoch)[0], str(checkpoints.folder))
        rows.extend(eval_fn(model, epoch))
    model.load_state_dict(current)
    return rows


def _resume(model: Any, opt: Any, sched: Any, checkpoints: EpochCheckpoints | None) -> int:
    """Restore the last complete epoch of the store (0 when there is none)."""
    epoch = checkpoints.latest() if checkpoints is not None else 0
    if not epoch:
        return 0
    weights, state = checkpoints.load(epoch)
    load_state(model, weights, str(checkpoints.folder))
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    logger.info("resumed %s at epoch %d", checkpoints.folder, epoch)
    return epoch
