"""Embedding throughput: the similarity node vs the bare model forward on pre-decoded tensors.

    .venv/bin/python tests/benchmarks/bench_similarity.py --model miniature --images 2048
    .venv/bin/python tests/benchmarks/bench_similarity.py --model csd --images 96 --batch 32
    .venv/bin/python tests/benchmarks/bench_similarity.py --model csd --images 2048 --batch 128 \
        --device cuda --precision fp16 --workers 12 --backend process

Prints, in one run (the same synthetic PNGs, written through a real ``PartitionedDataset`` of
``pillow.ImageDataset`` as generation writes them):

1. per-step cost of the data path on one thread, old path (``ImageDataset.load`` -> the float
   transform per image -> ``torch.stack``) and new path (file bytes -> PIL decode -> uint8
   resize/crop -> batched ``to_batch``: stack (pinned), host->device, scale + normalise);
2. the data path alone (no model): ``iter_decoded_batches`` with ``--workers`` workers of the
   chosen ``--backend`` + ``to_batch`` in the consumer, images/s in total and per worker;
3. the bare forward on pre-decoded, pre-normalised batches already on the device;
4. the node: ``embed_similarity_images`` and its lazy cache partitions, evaluated as the cache
   dataset does on save (read, decode, resize, normalise, forward, NaN checks, cache rows);
5. the ratio node/bare (goal >= 0.9x), the data-path rate per worker a GPU run would need for
   it, and peak memory (RSS of this process and of worker processes, GPU peak).

Random weights: throughput does not depend on them. Synthetic images are smooth noise plus
grain (PNG size close to a diffusion sample's, ~0.5 MB at 512x512), ``--size`` pixels square.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from kedro_datasets.partitions import PartitionedDataset
from PIL import Image

from imitation_kedro.models.embedder_factory import build_embedder
from imitation_kedro.pipelines.similarity.decoding import decode_image, iter_decoded_batches
from imitation_kedro.pipelines.similarity.nodes import (
    embed_similarity_images,
    plan_similarity_items,
)
from imitation_kedro.pipelines.similarity.params import SimilarityParams
from imitation_kedro.pipelines.similarity.references import generated_source


def build(model: str, device: str, batch: int, precision: str) -> tuple[Any, dict[str, Any], int]:
    """(``mdl_miniature_clip``-like bundle or None, embedder spec, default input size)."""
    if model in ("miniature", "vit-b-32"):
        from imitation_kedro.models.miniature_clip import miniature_clip_config
        from imitation_kedro.models.open_clip_bundle import create_bundle

        if model == "miniature":
            bundle = create_bundle(
                "bench-miniature-clip", model_cfg=miniature_clip_config(), seed=0, device=device
            )
            size = 32
        else:  # open_clip's ViT-B-32 config, random weights (no download)
            bundle = create_bundle(
                "ViT-B-32",
                seed=0,
                device=device,
                precision="fp16" if precision == "fp16" and device != "cpu" else "fp32",
            )
            size = 512
        return bundle, {"kind": "miniature_clip", "batch_size": batch, "device": device}, size
    from safetensors.torch import save_file

    from imitation_kedro.models.csd import CSDConfig, CSDModel

    cfg = CSDConfig.vit_large() if model == "csd" else CSDConfig(224, 14, 256, 4, 4, 128)
    torch.manual_seed(0)
    net = CSDModel(cfg).eval()
    path = os.path.join(tempfile.mkdtemp(), "csd.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    spec = {
        "kind": "csd",
        "checkpoint": path,
        "batch_size": batch,
        "device": device,
        "precision": precision,
    }
    return None, spec, 512


def synthetic_png(rng: np.random.Generator, size: int) -> Image.Image:
    small = rng.integers(0, 256, (max(2, size // 8), max(2, size // 8), 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))
    grain = rng.integers(-6, 7, smooth.shape)
    return Image.fromarray(np.clip(smooth.astype(np.int16) + grain, 0, 255).astype(np.uint8))


def per_image_ms(
    fn: Callable[[Any], Any], items: list[Any], repeat: int = 2
) -> tuple[float, list[Any]]:
    best, out = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = [fn(x) for x in items]
        best = min(best, (time.perf_counter() - t0) / len(items) * 1e3)
    return best, out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_costs(embedder: Any, loaders: list[Any], device: str, n: int) -> None:
    """Per-image cost of each data-path step on one thread, old path vs new."""
    loaders = loaders[:n]
    print(f"\n[1] data-path steps, one thread, {len(loaders)} images (ms/image, best of 2)")
    # old: ImageDataset.load (fsspec open + decode + copy) -> float transform -> stack -> device
    transform = getattr(embedder, "transform", None) or embedder.inner.bundle.preprocess
    t_load, images = per_image_ms(lambda ld: ld(), loaders)
    t_float, tensors = per_image_ms(lambda im: transform(im.convert("RGB")), images)
    t_stack, _ = per_image_ms(lambda _: torch.stack(tensors).to(device), [0])
    t_stack /= len(tensors)
    old = t_load + t_float + t_stack
    print(f"  old  ImageDataset.load (open+decode+copy) {t_load:6.2f}")
    print(f"  old  float transform (resize,crop,ToTensor,Normalize) {t_float:6.2f}")
    print(f"  old  stack float32 + to({device}) {t_stack:6.2f}")
    print(f"  old  total {old:6.2f} ms -> {1e3 / old:7.1f} img/s per worker")
    # new: raw bytes -> PIL decode -> to_rgb -> uint8 resize/crop -> batched to_batch
    readers = [generated_source({"x": ld}, "gen:x") for ld in loaders]
    t_read, blobs = per_image_ms(lambda r: r(), readers)
    t_dec, decoded = per_image_ms(lambda b: decode_image(b, True)[0], blobs)
    t_open, _ = per_image_ms(lambda b: Image.open(io.BytesIO(b)), blobs)
    t_prep, arrays = per_image_ms(embedder.prepare, decoded)

    def batch_once(_: Any) -> None:
        embedder.to_batch(arrays)
        sync(device)

    t_batch, _ = per_image_ms(batch_once, [0])
    t_batch /= len(arrays)
    new = t_read + t_dec + t_prep + t_batch
    print(f"  new  file read (bytes) {t_read:6.2f}")
    print(f"  new  PIL decode + checks + to_rgb {t_dec:6.2f}  (of which header parse {t_open:.2f})")
    print(f"  new  uint8 resize + crop (prepare) {t_prep:6.2f}")
    print(
        f"  new  to_batch: stack uint8 (pinned on GPU) + to({device}) + scale/normalise {t_batch:6.2f}"
    )
    print(
        f"  new  total {new:6.2f} ms -> {1e3 / new:7.1f} img/s per worker  (old/new {old / new:.2f}x)"
    )


def data_path_only(
    embedder: Any, sources: list[Any], args: argparse.Namespace, old: bool = False
) -> float:
    """Seconds to deliver every image as a model-ready batch on the device, no model."""
    if old:  # the previous path: float transform per image in the workers, stack float32
        transform = getattr(embedder, "transform", None) or embedder.inner.bundle.preprocess
        prepare, collate = transform, (lambda values: torch.stack(values).to(args.device))
    else:
        prepare, collate = embedder.prepare, embedder.to_batch
    t0 = time.perf_counter()
    n = 0
    for _, decoded in iter_decoded_batches(
        sources, args.batch, args.workers, args.prefetch, True, prepare, args.backend
    ):
        values = [d.value for d in decoded if not d.reason]
        collate(values)
        n += len(values)
    sync(args.device)
    assert n == len(sources), n
    return time.perf_counter() - t0


def main() -> None:  # noqa: PLR0915
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--model", choices=["miniature", "csd-small", "csd", "vit-b-32"], default="miniature"
    )
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument(
        "--size", type=int, default=0, help="input PNG side (0: 32 miniature, else 512)"
    )
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", choices=["thread", "process"], default="thread")
    ap.add_argument("--prefetch", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave default)")
    ap.add_argument(
        "--precision", choices=["fp32", "fp16", "bf16"], default="fp32", help="autocast on GPU"
    )
    ap.add_argument("--step-images", type=int, default=32, help="images for the per-step table")
    ap.add_argument("--skip-node", action="store_true", help="data path + steps only")
    ap.add_argument("--old-path", action="store_true", help="also time the previous data path")
    ap.add_argument("--repeat", type=int, default=1, help="data-path timings (best of)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle, spec, default_size = build(args.model, args.device, args.batch, args.precision)
    size = args.size or default_size
    n = args.images

    tmp = tempfile.mkdtemp(prefix="bench_similarity_")
    rng = np.random.default_rng(0)
    folder = PartitionedDataset(path=tmp, dataset="pillow.ImageDataset", filename_suffix=".png")
    base = [synthetic_png(rng, size) for _ in range(8)]
    pids = [f"m/c/{i % 5}/{i:04d}" for i in range(n)]
    folder.save({pid: base[i % 8].rotate(90 * (i // 8 % 4)) for i, pid in enumerate(pids)})
    png_kb = np.mean([os.path.getsize(os.path.join(tmp, p + ".png")) for p in pids[:8]]) / 1024
    generated = PartitionedDataset(
        path=tmp, dataset="pillow.ImageDataset", filename_suffix=".png"
    ).load()
    manifest = pd.DataFrame(
        {
            "model": "m",
            "concept": "c",
            "prompt_id": [i % 5 for i in range(n)],
            "index": range(n),
            "seed": range(n),
            "path": pids,
        }
    )
    concepts = pd.DataFrame({"concept": ["c"], "slug": ["c"], "domain": ["style"], "aliases": [[]]})
    with open(os.path.join(tmp, pids[0] + ".png"), "rb") as fh:
        refs = pd.DataFrame({"concept": ["c"], "ref_index": [0], "png": [fh.read()]})
    verified = pd.DataFrame(columns=["concept", "key", "png"])
    params = SimilarityParams(
        domains={"style": {"embedder": spec, "min_refs": 1}},
        decode_workers=args.workers,
        decode_backend=args.backend,
        prefetch_batches=args.prefetch,
        cache_chunk=n,
    )
    items, _ = plan_similarity_items(manifest, generated, concepts, refs, verified, params)
    items = items[items["role"] == "generated"]
    embedder = build_embedder(params.domains["style"].embedder, bundle)
    loaders = [generated[p] for p in pids]
    print(
        f"model={args.model} device={args.device} images={n} input={size}x{size} PNG "
        f"(~{png_kb:.0f} KiB) batch={args.batch} workers={args.workers} backend={args.backend} "
        f"prefetch={args.prefetch} torch_threads={torch.get_num_threads()} precision={args.precision} "
        f"cpus={os.cpu_count()}"
    )

    step_costs(embedder, loaders, args.device, min(n, args.step_images))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    sources = [generated_source(generated, f"gen:{p}") for p in pids]
    data_path_only(embedder, sources[: min(n, 2 * args.batch)], args)  # warm-up (pinned pool)
    runs: dict[str, list[float]] = {"new": [], "old": []}
    for _ in range(args.repeat):  # alternate: other load on the machine hits both alike
        runs["new"].append(data_path_only(embedder, sources, args))
        if args.old_path:
            runs["old"].append(data_path_only(embedder, loaders, args, old=True))
    t_data = min(runs["new"])
    print(
        f"\n[2] data path only (read+decode+resize+to_batch, no model; best of {args.repeat}): "
        f"{n / t_data:9.1f} images/s = {n / t_data / args.workers:7.1f} images/s per worker "
        f"({t_data:.2f} s)"
    )
    if args.old_path:
        t_old = min(runs["old"])
        print(
            f"    old data path (ImageDataset.load + float transform in workers): {n / t_old:9.1f} "
            f"images/s = {n / t_old / args.workers:7.1f} per worker ({t_old:.2f} s)"
        )

    # bare forward: pre-decoded, pre-normalised batches already on the device
    batches = [
        embedder.to_batch(
            [embedder.prepare(decode_image(s, True)[0]) for s in sources[i : i + args.batch]]
        )
        for i in range(0, n, args.batch)
    ]
    forward = embedder.inner.embed_tensor if hasattr(embedder, "inner") else None
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.precision)

    def bare(batch: torch.Tensor) -> np.ndarray:
        if forward is not None:
            return forward(batch)
        with torch.inference_mode():
            if dtype is not None and args.device.startswith("cuda"):
                with torch.autocast("cuda", dtype=dtype):
                    return embedder.model(batch).float().cpu().numpy()
            return embedder.model(batch).float().cpu().numpy()

    bare(batches[0])  # warm-up
    sync(args.device)
    t0 = time.perf_counter()
    for batch in batches:
        bare(batch)
    sync(args.device)
    t_bare = time.perf_counter() - t0
    del batches
    print(
        f"[3] bare forward (pre-decoded tensors on {args.device}): {n / t_bare:9.1f} images/s ({t_bare:.2f} s)"
    )
    need = 0.9 * n / t_bare / args.workers
    print(
        f"    data path needed for 0.9x: {0.9 * n / t_bare:.1f} images/s = {need:.1f} per worker "
        f"with {args.workers} workers; measured {n / t_data / args.workers:.1f} per worker "
        f"({'enough' if n / t_data >= 0.9 * n / t_bare else 'NOT enough'})"
    )
    if args.skip_node:
        return

    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    partitions, _ = embed_similarity_images(items, generated, refs, verified, bundle, {}, params)
    t_setup = time.perf_counter() - t0  # build the embedder (load + fingerprint weights), plan
    rows = pd.concat(
        [make() for make in partitions.values()]
    )  # what the cache dataset runs on save
    t_node = time.perf_counter() - t0 - t_setup
    assert len(rows) == n and (rows["reason"] == "").all()
    print(
        f"[4] similarity node (read+decode+embed+cache rows): {n / t_node:9.1f} images/s ({t_node:.2f} s)"
        f" + {t_setup:.2f} s once per run (build embedder, fingerprint weights, plan)"
    )
    print(
        f"[5] ratio node/bare: {t_bare / t_node:.2f}x  (goal >= 0.9x); with the one-off setup "
        f"{t_bare / (t_node + t_setup):.2f}x"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"    peak RSS: {rss:.0f} MiB (after model + steps: {rss0:.0f} MiB); largest "
        f"child process: {kids:.0f} MiB"
    )
    if args.device.startswith("cuda"):
        print(f"    peak GPU memory (node): {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
