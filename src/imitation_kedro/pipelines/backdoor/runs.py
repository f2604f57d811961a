"""One pre-training run and one CleanCLIP run: model, training data, evaluation after each epoch.

The nodes (``pretrain_models``, ``clean_models``) make one :class:`RunContext` (the pair source,
eager or streaming, is chosen there once per node), loop over objectives, seeds and the cleaning
grid, and call these.
torch / open_clip are imported inside the functions that train or evaluate.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.content_hash import json_sha256

from .params import BackdoorParams, CleanParams, PretrainParams
from .source import PairSource, pair_source
from .tracking import log_epoch, log_timing, set_threads

logger = logging.getLogger(__name__)

SPLITS = ("selection", "test")


@dataclass
class RunContext:
    """What every run of a training node shares: parameters, classes, EDA captions, the pair
    source (eager or streaming, with its reject log) and the evaluation splits."""

    params: BackdoorParams
    classes: Mapping[str, Any]
    caption_aug: pd.DataFrame
    source: PairSource
    sets: dict[str, Any]
    data_key: str = ""  # content hash of the evaluation splits and settings (metrics cache)


def run_context(
    pairs: pd.DataFrame,
    caption_aug: pd.DataFrame,
    classes: Mapping[str, Any],
    params: BackdoorParams,
) -> RunContext:
    """Threads, the node's pair source, and the selection/test splits (clean and triggered)."""
    set_threads(params.num_threads)
    source = pair_source(params.data, params.attack)
    sets = {}
    for split in SPLITS:
        rows = pairs[pairs["split"] == split]
        if "label_index" in rows.columns:  # index-based classes (names may repeat)
            labels = rows["label_index"].to_numpy(dtype=np.int64)
        else:  # pair tables written before label_index existed
            labels = np.array([classes["classes"].index(c) for c in rows["label"]])
        sets[split] = source.eval_set(rows, labels)
    evaluated = pairs[pairs["split"].isin(SPLITS)]
    data_key = json_sha256(
        (
            evaluated["key"].tolist(),
            evaluated["split"].tolist(),
            params.data.model_dump(),
            params.attack.model_dump(),
            params.eval.model_dump(),
            params.data.image_size,
            dict(classes),
        )
    )
    return RunContext(params, classes, caption_aug, source, sets, data_key)


# Metrics of recently evaluated weights, keyed on the weights' and the evaluation's content: the
# kept pre-trained model is evaluated once, not again as epoch 0 of every cleaning run.
_METRICS: OrderedDict[str, dict[str, float]] = OrderedDict()
_METRICS_KEPT = 8


def weights_key(model: Any) -> str:
    """sha256 of a model's state (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch_uint8()).numpy().tobytes())
    return h.hexdigest()


def torch_uint8() -> Any:
    import torch

    return torch.uint8


def train_data(bundle: Any, pairs: pd.DataFrame, ctx: RunContext) -> Any:
    """Training pairs with their tokenised captions and static EDA captions, row-aligned."""
    cols = [c for c in ("key", "png", "image", "poisoned", "caption") if c in pairs.columns]
    merged = pairs[cols].merge(
        ctx.caption_aug[["key", "caption_aug"]], on="key", how="left", validate="1:1"
    )
    if merged["caption_aug"].isna().any():
        key = merged.loc[merged["caption_aug"].isna(), "key"].iloc[0]
        raise ValueError(f"pair {key!r} has no augmented caption: re-run augment_texts")
    tokens = bundle.tokenizer(merged["caption"].tolist())
    tokens_aug = bundle.tokenizer(merged["caption_aug"].tolist())
    return ctx.source.train_data(merged, tokens, tokens_aug, ctx.params.augment.image)


def evaluate_all(bundle: Any, ctx: RunContext) -> dict[str, float]:
    """Zero-shot accuracy and ASR on every evaluation split, with the run's templates and target
    (weights evaluated before, e.g. the kept pre-trained model as a cleaning run's epoch 0, are
    answered from a content-keyed cache)."""
    key = json_sha256((ctx.data_key, weights_key(bundle.model)))
    if key in _METRICS:
        _METRICS.move_to_end(key)
        return dict(_METRICS[key])
    metrics = _evaluate(bundle, ctx)
    _METRICS[key] = dict(metrics)
    while len(_METRICS) > _METRICS_KEPT:
        _METRICS.popitem(last=False)
    return metrics


def _evaluate(bundle: Any, ctx: RunContext) -> dict[str, float]:
    from .evaluate import evaluate

    return evaluate(
        bundle,
        ctx.sets,
        ctx.classes["classes"],
        ctx.classes["templates"],
        ctx.classes.get("target_index", ctx.classes["target"]),
        ctx.params.eval.topk,
        ctx.params.eval.batch_size,
        ctx.params.eval.prompt_batch,
    )


def _keeps(p: PretrainParams, epoch: int, better: bool, selection_asr: float) -> bool:
    """Whether ``pretrain.checkpoint_rule`` keeps this evaluated epoch (B12)."""
    rule = p.checkpoint_rule
    return (
        rule == "last"
        or (rule == "fixed_epoch" and epoch == p.fixed_epoch)
        or (rule == "best_clean_acc" and better and epoch > 0)
        or (
            rule == "best_clean_acc_backdoored"
            and better
            and epoch > 0
            and selection_asr >= p.backdoor_floor
        )
    )


class KeptEpoch:
    """The evaluated epoch ``pretrain.checkpoint_rule`` keeps (B12), offered epochs in order."""

    def __init__(self, p: PretrainParams, name: str) -> None:
        self.p, self.name = p, name
        self.kept: dict[str, Any] = {}
        self.fallback: dict[str, Any] = {}  # best_clean_acc_backdoored: the most backdoored

    def offer(self, epoch: int, acc: float, asr: float, state: Callable[[], Any]) -> None:
        """One evaluated epoch (selection top-1 and ASR@1); ``state()`` copies its weights."""
        keep = _keeps(self.p, epoch, acc > self.kept.get("score", -1.0), asr)
        backdoored = self.p.checkpoint_rule == "best_clean_acc_backdoored" and epoch > 0
        fall = backdoored and (asr, acc) > self.fallback.get("key", (-1.0, -1.0))
        weights = state() if keep or fall else None  # one copy, shared when both take it
        if keep:
            self.kept = {"score": acc, "epoch": epoch, "state": weights}
        if fall:
            self.fallback = {"key": (asr, acc), "epoch": epoch, "state": weights}

    def result(self) -> dict[str, Any]:
        """``epoch`` and ``state`` kept; raises when the rule kept none (e.g. a fixed epoch
        never evaluated)."""
        p = self.p
        if not self.kept and self.fallback:
            logger.warning(
                "%s: no evaluated epoch reached selection ASR@1 >= %g; kept epoch %d, the most "
                "backdoored (selection ASR@1 %.3f)",
                self.name,
                p.backdoor_floor,
                self.fallback["epoch"],
                self.fallback["key"][0],
            )
            return self.fallback
        if not self.kept:
            raise ValueError(
                f"pretrain.checkpoint_rule={p.checkpoint_rule!r} kept no epoch of {self.name} "
                f"(fixed_epoch={p.fixed_epoch}, epochs={p.optim.epochs})"
            )
        return self.kept


def pretrain_run(
    ctx: RunContext, objective: str, seed: int, pairs: pd.DataFrame, checkpoints: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One poisoned CLIP (objective, seed) trained on ``pairs``, resumable through
    ``checkpoints``: the checkpoint the declared rule keeps, and metric rows per evaluated epoch."""
    from .train import build_model, train

    params, p, name = ctx.params, ctx.params.pretrain, f"{objective}-seed{seed}"
    bundle = build_model(params.model, p.logit_scale_init, seed, params.device)
    data = train_data(bundle, pairs, ctx)
    chooser = KeptEpoch(p, name)

    def on_epoch(model: Any, epoch: int) -> list[dict[str, Any]]:
        m = evaluate_all(bundle, ctx)
        row = {
            "model": name,
            "pretrain_objective": objective,
            "pretrain_seed": seed,
            "epoch": epoch,
            "logit_scale": float(model.logit_scale.detach().exp()),
        } | m
        chooser.offer(
            epoch,
            m["selection_acc1"],
            m["selection_asr1"],
            lambda: {k: v.detach().clone() for k, v in model.state_dict().items()},
        )
        log_epoch(f"pretrain-{name}", row)
        return [row]

    result = train(
        bundle,
        data,
        objective,
        p.optim,
        p.optim.lr,
        p.lambda_mmcl,
        p.lambda_ssl,
        p.logit_scale_max,
        seed,
        params.augment.image,
        p.siglip_weight,
        params.augment.image_group,
        eval_fn=on_epoch,
        checkpoints=checkpoints,
        desc=f"pretrain {name}",
        eval_every=p.eval_every,
        eval_start=p.eval_start,
    )
    kept = chooser.result()
    log_timing(f"pretrain-{name}", result.pairs_per_s, result.seconds)
    for row in result.metrics:
        row |= {"kept": row["epoch"] == kept["epoch"]} | ctx.source.reject_columns()
    model = {
        "state_dict": kept["state"],
        "optimizer_state": result.optimizer_state,
        "meta": {
            "objective": objective,
            "seed": seed,
            "epoch": kept["epoch"],
            "attack": params.attack.kind,
            "target": ctx.classes["target"],
            "model": params.model.to_dict(),
        },
    }
    logger.info(
        "pretrained %s: %.0f pairs/s, %s",
        name,
        result.pairs_per_s,
        {k: round(v, 3) for k, v in result.metrics[-1].items() if "_acc1" in k or "_asr1" in k},
    )
    return model, result.metrics


def clean_grid(clean: CleanParams) -> list[tuple[str, float, float, float]]:
    """(objective, lr, lambda_mmcl, lambda_ssl) points: MMCL-only, SSL-only, and lr x lambda2;
    an objective's own ``clean.grids`` entry replaces ``clean.lrs`` for it."""
    grid = []
    for objective in clean.objectives:
        own = clean.grids.get(objective)
        for lr in own.lrs if own and own.lrs else clean.lrs:
            if objective == "mmcl":
                grid.append((objective, lr, 1.0, 0.0))
            elif objective == "ssl":
                grid.append((objective, lr, 0.0, 1.0))
            else:
                grid += [(objective, lr, 1.0, lam) for lam in clean.lambda_ssl]
    return grid


def clean_run(
    ctx: RunContext,
    name: str,
    ckpt: dict[str, Any],
    point: tuple[str, float, float, float],
    cleaning: pd.DataFrame,
    keep: Any = None,
) -> list[dict[str, Any]]:
    """One CleanCLIP fine-tuning of pre-trained model ``name`` at one grid ``point`` on the
    ``cleaning`` pairs; metrics per epoch. ``keep`` (a ``select.SelectedStates``) is offered
    every evaluated epoch's weights."""
    from imitation_kedro.models.clip_checkpoints import load_state

    from .train import build_model, train

    objective, lr, l1, l2 = point
    params, c, meta = ctx.params, ctx.params.clean, ckpt["meta"]
    t0 = time.perf_counter()
    bundle = build_model(
        params.model, params.pretrain.logit_scale_init, meta["seed"], params.device
    )
    load_state(bundle.model, ckpt["state_dict"], name)
    data = train_data(bundle, cleaning, ctx)
    ident = {
        "model": name,
        "pretrain_objective": meta["objective"],
        "pretrain_seed": meta["seed"],
        "attack": meta["attack"],
        "clean_objective": objective,
        "lr": lr,
        "lambda_mmcl": l1,
        "lambda_ssl": l2,
    }

    run_name = f"clean-{name}-{objective}-lr{lr:g}-l{l2:g}"

    def on_epoch(model: Any, epoch: int) -> list[dict[str, Any]]:
        row = ident | {"epoch": epoch} | evaluate_all(bundle, ctx)
        log_epoch(run_name, row)
        if keep is not None:
            keep.offer(
                (name, objective),
                row,
                lambda: {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            )
        return [row]

    grid = c.grids.get(objective)
    optim = (
        c.optim.model_copy(update={"batch_size": grid.batch_size})
        if grid and grid.batch_size
        else c.optim
    )
    result = train(
        bundle,
        data,
        objective,
        optim,
        lr,
        l1,
        l2,
        params.pretrain.logit_scale_max,
        meta["seed"],
        params.augment.image,
        aug_group=params.augment.image_group,
        eval_fn=on_epoch,
        optimizer_state=ckpt.get("optimizer_state") if c.load_optimizer_state else None,
        desc=run_name,
    )
    log_timing(run_name, result.pairs_per_s, time.perf_counter() - t0)
    for row in result.metrics:
        row |= ctx.source.reject_columns()
    return result.metrics
