"""Training throughput of the backdoor loop vs a bare loop of the same model and loss.

Run by hand (not part of the test command):
    .venv/bin/python tests/benchmarks/bench_backdoor_train.py [--pairs 2048] [--epochs 3] [--threads 1]
Prints pairs/s for both and the ratio (goal >= 0.9). Same model (the base config's architecture),
same batches, same loss, same AdamW; the pipeline loop adds the LR schedule, the logit-scale clamp,
seeded order and, for mmcl_ssl, AutoAugment views and the 2N forward (the bare loop does the same
work for mmcl_ssl so the ratio measures overhead, not objective cost).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import yaml

from imitation_kedro.pipelines.backdoor.augment import make_image_augmenter
from imitation_kedro.pipelines.backdoor.losses import mmcl_loss, ssl_loss
from imitation_kedro.pipelines.backdoor.params import BackdoorParams, OptimParams
from imitation_kedro.pipelines.backdoor.train import (
    TrainData,
    build_model,
    make_optimizer,
    normalise,
    train,
)


def bare_loop(bundle, data: TrainData, objective: str, optim: OptimParams, epochs: int) -> float:
    model = bundle.model
    opt = make_optimizer(model, optim, optim.lr)
    augment = make_image_augmenter("autoaugment") if objective == "mmcl_ssl" else None
    n, bs = len(data.images), optim.batch_size
    seen, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n)
        for b in range(n // bs):
            idx = order[b * bs : (b + 1) * bs]
            imgs, toks = data.images[idx], data.tokens[idx]
            if augment is not None:
                imgs = torch.cat([imgs, augment(imgs)])
                toks = torch.cat([toks, data.tokens_aug[idx]])
            img = model.encode_image(normalise(imgs, bundle), normalize=True)
            txt = model.encode_text(toks, normalize=True)
            s = model.logit_scale.exp()
            loss = mmcl_loss(img[:bs], txt[:bs], s)
            if augment is not None:
                loss = loss + ssl_loss(img[:bs], img[bs:], txt[:bs], txt[bs:], s)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += bs
    return seen / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="default: backdoor.num_threads")
    ap.add_argument("--objectives", default="mmcl,mmcl_ssl")
    args = ap.parse_args()
    raw = yaml.safe_load(open("conf/base/parameters_backdoor.yml"))["backdoor"]
    params = BackdoorParams(**raw)
    torch.set_num_threads(args.threads or params.num_threads or 1)
    optim = params.pretrain.optim
    rng = np.random.default_rng(0)
    size = params.data.image_size
    images = torch.from_numpy(rng.integers(0, 256, (args.pairs, 3, size, size), dtype=np.uint8))
    for objective in args.objectives.split(","):
        rates = {}
        for which in ("bare", "pipeline", "bare2", "pipeline2"):  # interleaved against noise
            bundle = build_model(params.model, math.log(1 / 0.07), seed=0)
            words = [f"a photo of thing {i % 97}" for i in range(args.pairs)]
            toks = bundle.tokenizer(words)
            data = TrainData(images, toks, toks.flip(1))
            if which.startswith("bare"):
                rates[which] = bare_loop(bundle, data, objective, optim, args.epochs)
            else:
                run_optim = OptimParams(**{**optim.to_dict(), "epochs": args.epochs})
                res = train(
                    bundle,
                    data,
                    objective,
                    run_optim,
                    optim.lr,
                    1.0,
                    1.0,
                    params.pretrain.logit_scale_max,
                    seed=0,
                    image_aug=params.augment.image,
                )
                rates[which] = res.pairs_per_s
        bare = max(rates["bare"], rates["bare2"])
        pipe = max(rates["pipeline"], rates["pipeline2"])
        print(
            f"{objective:9s} bare {bare:8.1f} pairs/s   pipeline {pipe:8.1f} pairs/s   "
            f"ratio {pipe / bare:.2f}   (runs: {', '.join(f'{k}={v:.0f}' for k, v in rates.items())})"
        )


if __name__ == "__main__":
    main()
