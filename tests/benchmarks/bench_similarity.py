"""Embedding throughput: the similarity node path vs the bare model forward on pre-decoded tensors.

    .venv/bin/python tests/benchmarks/bench_similarity.py --model miniature --images 2048
    .venv/bin/python tests/benchmarks/bench_similarity.py --model csd --images 1024 --device cuda \
        --workers 14 --precision fp16

The node path is ``embed_similarity_images`` (and its lazy cache partitions, evaluated as the
cache dataset does on save) reading PNGs through a real
``partitions.PartitionedDataset`` of ``pillow.ImageDataset`` (file read + decode + preprocess in
the thread pool, model forward, checks, cache partition). The baseline gets the same images
already decoded and preprocessed into tensors and times only ``model(batch)``. Goal: >= 0.9x.
Random weights: throughput does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import pandas as pd
import torch
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from imitation_kedro.pipelines.similarity.nodes import (
    embed_similarity_images,
    plan_similarity_items,
)
from imitation_kedro.pipelines.similarity.params import SimilarityParams


def build(model: str, device: str, batch: int, precision: str = "fp32"):
    """(embedder-like object for the node, image size, bare forward fn on a tensor batch)."""
    if model == "miniature":
        from imitation_kedro.datasets.open_clip_model import create_bundle
        from imitation_kedro.models.miniature_clip import miniature_clip_config

        bundle = create_bundle("bench-miniature-clip", model_cfg=miniature_clip_config(), seed=0, device=device)
        spec = {"kind": "miniature_clip", "batch_size": batch, "device": device}

        def forward(x):
            return bundle.model.encode_image(x.to(device), normalize=True).float().cpu()

        return bundle, spec, 32, forward, None
    from imitation_kedro.models.csd import CSDConfig, CSDModel

    cfg = CSDConfig.vit_large() if model == "csd" else CSDConfig(224, 14, 256, 4, 4, 128)
    torch.manual_seed(0)
    net = CSDModel(cfg).eval().to(device)
    path = os.path.join(tempfile.mkdtemp(), "csd.safetensors")
    from safetensors.torch import save_file

    save_file({k: v.contiguous().cpu() for k, v in net.state_dict().items()}, path)
    spec = {"kind": "csd", "checkpoint": path, "batch_size": batch, "device": device, "precision": precision}
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

    def forward(x):
        if dtype is not None and device.startswith("cuda"):
            with torch.autocast("cuda", dtype=dtype):
                return net(x.to(device)).float().cpu()
        return net(x.to(device)).float().cpu()

    return None, spec, 512, forward, cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["miniature", "csd-small", "csd"], default="miniature")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    ap.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32", help="CSD autocast on GPU")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle, spec, size, forward, _ = build(args.model, args.device, args.batch, args.precision)

    tmp = tempfile.mkdtemp(prefix="bench_similarity_")
    rng = np.random.default_rng(0)
    folder = PartitionedDataset(path=tmp, dataset="pillow.ImageDataset", filename_suffix=".png")
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    pids = [f"m/c/{i % 5}/{i:04d}" for i in range(args.images)]
    folder.save({pid: Image.fromarray(np.roll(base, i, axis=1)) for i, pid in enumerate(pids)})
    generated = PartitionedDataset(path=tmp, dataset="pillow.ImageDataset", filename_suffix=".png").load()
    manifest = pd.DataFrame({"model": "m", "concept": "c", "prompt_id": [i % 5 for i in range(args.images)],
                             "index": range(args.images), "seed": range(args.images), "path": pids})
    concepts = pd.DataFrame({"concept": ["c"], "slug": ["c"], "domain": ["style"], "aliases": [[]]})
    with open(os.path.join(tmp, pids[0] + ".png"), "rb") as fh:
        refs = pd.DataFrame({"concept": ["c"], "ref_index": [0], "png": [fh.read()]})
    verified = pd.DataFrame(columns=["concept", "key", "png"])
    params = SimilarityParams(domains={"style": {"embedder": spec, "min_refs": 1}},
                              decode_workers=args.workers, prefetch_batches=2, cache_chunk=args.images)
    items, _ = plan_similarity_items(manifest, generated, concepts, refs, verified, params)
    items = items[items["role"] == "generated"]

    # baseline: same images, decoded + preprocessed up front; time the forward only
    from imitation_kedro.models.embedder_factory import build_embedder

    embedder = build_embedder(params.domains["style"].embedder, bundle)
    tensors = [embedder.prepare(Image.open(os.path.join(tmp, p + ".png")).convert("RGB")) for p in pids]
    with torch.inference_mode():
        forward(torch.stack(tensors[: args.batch]))  # warm-up
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for s in range(0, len(tensors), args.batch):
            forward(torch.stack(tensors[s : s + args.batch]))
        sync()
        bare = time.perf_counter() - t0
    del tensors

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    partitions, _ = embed_similarity_images(items, generated, refs, verified, bundle, {}, params)
    rows = pd.concat([make() for make in partitions.values()])  # what the cache dataset runs on save
    node = time.perf_counter() - t0
    assert len(rows) == args.images and (rows["reason"] == "").all()

    n = args.images
    print(f"model={args.model} device={args.device} images={n} batch={args.batch} workers={args.workers} "
          f"torch_threads={torch.get_num_threads()} precision={args.precision}")
    print(f"bare forward (pre-decoded tensors): {n / bare:9.1f} images/s  ({bare:.2f} s)")
    print(f"similarity node (read+decode+embed): {n / node:9.1f} images/s  ({node:.2f} s)")
    print(f"ratio node/bare: {bare / node:.2f}x  (goal >= 0.9x)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory (node): {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
