"""Benchmark: the generation node path vs bare ``pipe(...)`` calls (same prompts, seeds, batch).

    python tests/benchmarks/bench_generation.py                      # tiny random SD, 32 images
    python tests/benchmarks/bench_generation.py --model-dir data/06_models/miniature_t2i --model miniature

Both sides render the same images and write the same PNGs to disk; the node side goes through
build_prompt_table -> plan_generation (resume scan) -> generate_images -> the lazy
PartitionedDataset save. Prints images/s and the overhead ratio (goal <= 1.05x), plus the cost of
``batch_invariant`` (per-sample layers, bytes independent of batch size). Not run by pytest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("IMITATION_KEDRO_PROGRESS", "0")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_pipe(args):
    if args.model_dir:
        from imitation_kedro.datasets import DiffusersPipelineDataset

        return DiffusersPipelineDataset(path=args.model_dir).load()
    from tests.pipelines.generation.conftest import build_tiny_sd, load_tiny_sd

    target = Path(tempfile.mkdtemp()) / "tiny_sd"
    build_tiny_sd(target)
    return load_tiny_sd(target)


def params_for(args, batch_invariant: bool):
    from imitation_kedro.core.generation_params import GenerationParams

    size = {"height": args.size, "width": args.size} if args.size else {}
    return GenerationParams(
        model=args.model,
        models={args.model: {"steps": args.steps, "guidance_scale": 7.5, **size}},
        templates={"style": ["a painting in the style of {concept}"]},
        images_per_prompt=args.images // args.concepts,
        batch_size=args.batch,
        speed={"device": "cpu", "batch_invariant": batch_invariant},
    )


def run_node(pipe, concepts, params, out: Path) -> float:
    from kedro_datasets.partitions import PartitionedDataset

    from imitation_kedro.datasets.existing_partitions import ExistingPartitionsDataset
    from imitation_kedro.pipelines.generation.nodes import (
        build_prompt_table,
        generate_images,
        plan_generation,
    )

    spec = {"path": str(out), "dataset": "pillow.ImageDataset", "filename_suffix": ".png"}
    start = time.perf_counter()
    table = build_prompt_table(concepts, params)
    plan = plan_generation(table, ExistingPartitionsDataset(**spec).load(), params)
    lazy, _ = generate_images(plan, pipe, params)
    PartitionedDataset(**spec).save(lazy)
    return time.perf_counter() - start


def run_bare(pipe, concepts, params, out: Path) -> float:
    """What a hand-written script does: the same prompts and seeds, batched, PNGs to disk."""
    import torch

    from imitation_kedro.pipelines.generation.nodes import build_prompt_table

    s = params.settings
    table = build_prompt_table(concepts, params)  # untimed: same prompts/seeds/order as the node
    rows = list(zip(table["path"], table["prompt"], table["seed"], strict=True))
    extra = {"height": s.height, "width": s.width} if s.height else {}
    start = time.perf_counter()
    for i in range(0, len(rows), params.batch_size):
        batch = rows[i : i + params.batch_size]
        with torch.inference_mode():
            images = pipe(
                prompt=[p for _, p, _ in batch],
                generator=[torch.Generator().manual_seed(int(seed)) for _, _, seed in batch],
                num_inference_steps=s.steps,
                guidance_scale=s.guidance_scale,
                output_type="pil",
                **extra,
            ).images
        for (path, _, _), image in zip(batch, images, strict=True):
            target = out / f"{path}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            image.save(target, format="PNG")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir", default=None, help="a saved diffusers pipeline (default: tiny SD)"
    )
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--concepts", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=32, help="pixels; 0 = the pipeline's default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    concepts = pd.DataFrame(
        {"concept": [f"Painter {chr(65 + i)}" for i in range(args.concepts)], "domain": "style"}
    )
    pipe = load_pipe(args)
    from imitation_kedro.pipelines.generation import render

    fast, invariant = params_for(args, False), params_for(args, True)
    # The node prepares the pipeline (scheduler, device, ...) once; do the same for the bare side.
    render.prepare_pipeline(pipe, fast.settings, fast.speed, "cpu")
    from imitation_kedro.pipelines.generation.nodes import build_prompt_table

    n = len(build_prompt_table(concepts, fast))
    log(f"{n} images per run, {args.repeats} repeats per side")
    times: dict[str, list[float]] = {"bare": [], "node": []}
    tmp = Path(tempfile.mkdtemp())
    run_bare(pipe, concepts, fast, tmp / "warmup")  # warm-up: allocator, kernels
    for r in range(args.repeats):
        log(f"repeat {r}")  # interleaved so machine noise hits both sides alike
        for name, fn in (("bare", run_bare), ("node", run_node)):
            out = tmp / f"{name}{r}"
            times[name].append(fn(pipe, concepts, fast, out))
            shutil.rmtree(out)
    render.make_batch_invariant(pipe)
    inv = []
    for r in range(args.repeats):
        out = tmp / f"inv{r}"
        inv.append(run_node(pipe, concepts, invariant, out))
        shutil.rmtree(out)
    shutil.rmtree(tmp)
    import statistics

    bare, node, node_inv = min(times["bare"]), min(times["node"]), min(inv)
    med_ratio = statistics.median(times["node"]) / statistics.median(times["bare"])
    print(
        f"images: {n}  batch: {args.batch}  steps: {args.steps}  size: {args.size or 'default'}  "
        f"threads: {args.threads}  model: {args.model_dir or 'tiny random SD'}"
    )
    print(f"bare pipe() + PNG save : {bare:7.3f} s  {n / bare:7.2f} images/s")
    print(f"generation node path   : {node:7.3f} s  {n / node:7.2f} images/s")
    print(
        f"overhead ratio         : {node / bare:7.3f}x best-of-{args.repeats}, "
        f"{med_ratio:.3f}x median  (goal <= 1.05x)"
    )
    print(
        f"node, batch_invariant  : {node_inv:7.3f} s  {n / node_inv:7.2f} images/s  "
        f"({node_inv / node:.2f}x the fast path)"
    )
    print(
        f"all runs (s): bare {[round(t, 3) for t in times['bare']]} node "
        f"{[round(t, 3) for t in times['node']]} invariant {[round(t, 3) for t in inv]}"
    )


if __name__ == "__main__":
    main()
