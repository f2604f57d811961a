"""Peak memory of the frequency stage at 1x and 10x the images (issue 17: bounded memory).

Default: the paper-shape rehearsal corpus. For each size a throwaway project copy gets
``python -m imitation_kedro.rehearsal build --scale K`` (K = 1, 10: every concept's captions and
image files, and the filler rows, times K; stand-in models as the rehearsal builds them), then a
fresh process runs ``kedro run --env rehearsal --pipelines frequency`` in-process (KedroSession):
caption counting on both corpora, sampling, download of the ``file://`` images into img2dataset
shards, cleaning, verification (ArcFace/SCRFD, CSD and gate stand-ins), estimates. Memory is the
process's peak RSS above its RSS once the heavy modules are imported. Goal: 10x / 1x < 1.3.

``--synthetic`` keeps the older comparison on a synthetic corpus of the same layout (noisy
colour PNGs, a colour embedder), with the pre-issue-17 whole-table path as the baseline measured
in the same run: every requested image read into one table (``read_shards``) and cleaned in one
piece (``clean_images``).

    .venv/bin/python tests/benchmarks/bench_frequency_memory.py [--scale 10] [--per-set 12]
    .venv/bin/python tests/benchmarks/bench_frequency_memory.py --synthetic [--images 1500]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARD = 500  # images per raw shard (img2dataset: shard size, here scaled down)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_corpus(folder: Path, n_images: int, side: int) -> None:
    """Raw image shards (img2dataset columns) and the caption hits naming their concepts."""
    import numpy as np
    import pandas as pd
    from PIL import Image
    from tests.pipelines.frequency.synthetic import NAMES, colour_of

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    (folder / "raw").mkdir()
    hits = []
    for start in range(0, n_images, SHARD):
        rows = []
        for i in range(start, min(n_images, start + SHARD)):
            ci = i % len(NAMES)
            shown = ci if rng.random() > 0.1 else (ci + 3) % len(NAMES)  # 10% traps
            arr = np.clip(colour_of(shown) + rng.normal(0, 40, (side, side, 3)), 0, 255)
            buf = io.BytesIO()
            Image.fromarray(arr.astype(np.uint8), "RGB").save(buf, format="PNG")
            key = f"{i:09d}"
            rows.append((key, f"http://img.invalid/{i}.png", "c", "success", None, side, side,
                         buf.getvalue()))
            hits.append((NAMES[ci][0], i, f"http://img.invalid/{i}.png", "c"))
        pd.DataFrame(
            rows,
            columns=["key", "url", "caption", "status", "error_message", "width", "height", "png"],
        ).to_parquet(folder / "raw" / f"{start // SHARD:05d}.parquet", index=False)
    pd.DataFrame(hits, columns=["concept", "SAMPLE_ID", "URL", "TEXT"]).to_parquet(
        folder / "hits.parquet", index=False
    )


def measure(folder: Path, mode: str) -> dict[str, float]:
    """Run the image path once; peak RSS above the post-import RSS, in MiB."""
    import pandas as pd
    from kedro_datasets.partitions import PartitionedDataset
    from tests.pipelines.frequency.synthetic import ColourEmbedder, make_world

    from imitation_kedro.datasets.shard_folder import ShardFolder
    from imitation_kedro.pipelines.frequency import acquisition as acq
    from imitation_kedro.pipelines.frequency import nodes as n
    from imitation_kedro.pipelines.frequency.params import FrequencyParams

    world = make_world(n_rows=200, n_shards=1)  # concepts and reference images only
    params = FrequencyParams(acquisition={"min_bytes": 64})

    def shards(path: Path) -> dict:
        return PartitionedDataset(
            path=str(path), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
        ).load()

    hits = pd.read_parquet(folder / "hits.parquet")
    requests = n.plan_downloads(hits)
    summary = n.download_images(requests, ShardFolder("unused"), params.acquisition)
    clip = ColourEmbedder()
    calib, _ = n.calibrate_verification(
        world["raw_concepts"], world["raw_reference_images"], clip, params.verification
    )
    from statsmodels.stats.proportion import proportion_confint  # loaded before the baseline

    proportion_confint(1, 2, method="wilson")
    base = _rss_mb()
    args = (world["raw_concepts"], world["raw_reference_images"], clip, calib)
    if mode == "streamed":
        index, _ = n.collect_images(
            requests, shards(folder / "raw"), summary, ShardFolder(folder / "clean"),
            params.acquisition,
        )
        scores, verified = n.verify_images(
            hits, shards(folder / "clean"), *args, params.verification, index
        )
        for name, build in verified.items():  # PartitionedDataset's lazy save, one at a time
            build().to_parquet(folder / f"verified-{name}.parquet", index=False)
        keys = index
    else:  # the pre-issue-17 path: everything in one table
        found = acq.read_shards(shards(folder / "raw"), set(requests["key"]))
        clean, _ = acq.clean_images(found, requests, params.acquisition)
        del found
        scores, verified = n.verify_images(hits, clean, *args, params.verification)
        verified.to_parquet(folder / "verified.parquet", index=False)
        keys = clean[["key"]]
    freq = n.estimate_concept_frequencies(
        world["raw_concepts"], pd.DataFrame({"concept": world["raw_concepts"]["concept"],
                                             "captions": 10**6, "corpus_rows": 10**8}),
        hits, keys, scores, pd.DataFrame(), params.estimate, params.verification,
    )
    return {"peak_mb": _rss_mb() - base, "verified": int(freq["verified"].sum()),
            "images": len(requests)}


HEAVY = ("torch", "onnxruntime", "onnx", "open_clip", "safetensors", "statsmodels.api",
         "pyarrow.parquet", "PIL.Image", "mlflow", "kedro_mlflow")


def build_rehearsal(project: Path, scale: int, per_set: int) -> None:
    """A project copy holding the rehearsal's inputs at ``scale`` times the images."""
    from tests.rehearsal.project_copy import paper_project_copy

    paper_project_copy(project)
    subprocess.run(
        [sys.executable, "-m", "imitation_kedro.rehearsal", "build", "--project", str(project),
         "--per-set", str(per_set), "--scale", str(scale)],
        cwd=project, env=_env(project), capture_output=True, text=True, check=True,
    )


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "KEDRO_DISABLE_TELEMETRY": "1",
            "IMITATION_KEDRO_PROGRESS": "0", "MPLBACKEND": "Agg",
            "HF_HUB_CACHE": str(project / "data/rehearsal/hf_cache")}


def measure_rehearsal(project: Path) -> dict[str, float]:
    """``kedro run --env rehearsal --pipelines frequency`` in this process; peak RSS above imports."""
    import importlib

    import pandas as pd
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    for module in HEAVY:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    bootstrap_project(project)
    base = _rss_mb()
    with KedroSession.create(project_path=project, env="rehearsal") as session:
        session.run(pipeline_names=["frequency"])
    peak = _rss_mb() - base
    data = project / "data/rehearsal"
    index = pd.read_parquet(data / "02_intermediate/frequency/clean_images_index.parquet")
    freq = pd.read_parquet(
        sorted((data / "03_primary/concept_frequencies.parquet").glob("*/*.parquet"))[-1]
    )
    captions = sum(len(pd.read_parquet(p)) for p in (data / "01_raw/laion2b-en").glob("*.parquet"))
    return {"peak_mb": peak, "images": len(index), "verified": int(freq["verified"].sum()),
            "captions": captions}


def rehearsal_main(scale: int, per_set: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        res = {}
        for k in (1, scale):
            project = Path(tmp) / f"x{k}" / "project"
            build_rehearsal(project, k, per_set)
            out = subprocess.run(
                [sys.executable, __file__, "--child", "rehearsal", "--folder", str(project)],
                capture_output=True, text=True, cwd=project, env=_env(project),
            )
            if out.returncode:
                sys.exit(f"frequency at {k}x failed:\n{out.stderr[-4000:]}")
            r = res[k] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"rehearsal {k:2d}x: {r['captions']:7d} 2B-en captions, {r['images']:6d} clean "
                  f"images, {r['verified']:6d} verified, peak +{r['peak_mb']:7.1f} MiB", flush=True)
        ratio = res[scale]["peak_mb"] / max(res[1]["peak_mb"], 1e-9)
        grew = res[scale]["images"] / max(res[1]["images"], 1)
        extra = res[scale]["peak_mb"] - res[1]["peak_mb"]
        print(f"rehearsal: images {grew:.1f}x, peak memory {scale}x / 1x = {ratio:.2f} "
              f"(goal < 1.3: {'met' if ratio < 1.3 else 'NOT met'}); +{extra:.1f} MiB for "
              f"{res[scale]['images'] - res[1]['images']} more images")


def _child(folder: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--folder", str(folder)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic", action="store_true", help="the synthetic corpus comparison")
    ap.add_argument("--scale", type=int, default=10, help="rehearsal: the larger size")
    ap.add_argument("--per-set", type=int, default=12, help="rehearsal: concepts per set")
    ap.add_argument("--images", type=int, default=1500, help="synthetic: images at 1x")
    ap.add_argument("--side", type=int, default=96, help="synthetic: image side")
    ap.add_argument("--child")
    ap.add_argument("--folder")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if a.child == "rehearsal":
        print(json.dumps(measure_rehearsal(Path(a.folder))))
    elif a.child:
        print(json.dumps(measure(Path(a.folder), a.child)))
    elif a.synthetic:
        synthetic_main(a.images, a.side)
    else:
        rehearsal_main(a.scale, a.per_set)


def synthetic_main(images: int, side: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        res = {}
        for scale in (1, 10):
            folder = Path(tmp) / f"x{scale}"
            make_corpus(folder, images * scale, side)
            for mode in ("baseline", "streamed"):
                res[mode, scale] = _child(folder, mode)
                r = res[mode, scale]
                print(f"{mode:9s} {scale:2d}x: {r['images']:6d} images, {r['verified']:6d} "
                      f"verified, peak +{r['peak_mb']:7.1f} MiB", flush=True)
        for mode in ("baseline", "streamed"):
            ratio = res[mode, 10]["peak_mb"] / max(res[mode, 1]["peak_mb"], 1e-9)
            print(f"{mode}: peak memory 10x / 1x = {ratio:.2f}")
        ok = res["streamed", 10]["peak_mb"] / max(res["streamed", 1]["peak_mb"], 1e-9) < 1.3
        same = res["streamed", 10]["verified"] == res["baseline", 10]["verified"]
        print(f"goal streamed ratio < 1.3: {'met' if ok else 'NOT met'}; "
              f"same verified counts as the baseline: {same}")


if __name__ == "__main__":
    main()
