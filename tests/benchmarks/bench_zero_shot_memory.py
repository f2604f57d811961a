"""Zero-shot classifier memory: 1,000 ImageNet classes at 8 and at 80 templates (issue 18).

Each configuration runs in a fresh subprocess; its peak resident memory is measured from the
moment the model is built (Linux: ``/proc/self/clear_refs`` resets ``VmHWM``), so the number is
what the class embeddings themselves cost. Prints the peaks, their ratio (80 / 8 templates; goal
< 1.2: memory bounded independently of templates x classes), and the largest difference of the
batched class embeddings from the one-batch computation (goal <= 1e-6; measured at 8 templates:
the one-batch version at 80 templates needs ~10x the memory of 8, which is what it replaces).

    .venv/bin/python tests/benchmarks/bench_zero_shot_memory.py [--prompt-batch 1024]

The text tower is the rehearsal's (conf/rehearsal/parameters_backdoor.yml): open_clip's CLIP text
layout (12 layers, 8 heads, context 77, vocab 49,408) at width 32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": [3, 4, 6, 3], "width": 8, "patch_size": None},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 8, "layers": 12},
}


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(n_templates: int, prompt_batch: int, mode: str) -> dict:
    import torch
    from open_clip import zero_shot_metadata as z

    from imitation_kedro.models.untrained_clip import untrained_clip
    from imitation_kedro.pipelines.backdoor import evaluate as E

    torch.set_num_threads(1)
    classes = list(z.IMAGENET_CLASSNAMES)
    templates = [t("{}") for t in z.OPENAI_IMAGENET_TEMPLATES][:n_templates]
    bundle = untrained_clip(None, CFG, seed=0, logit_scale_init=2.659)
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak to the current RSS
        f.write("5")
    before = _status("VmRSS")
    t0 = time.perf_counter()
    if mode == "batched":
        emb = E.class_embeddings(bundle, classes, templates, prompt_batch)
    else:
        emb = E.class_embeddings_one_batch(bundle, classes, templates)
    seconds = time.perf_counter() - t0
    peak = _status("VmHWM") - before
    torch.save(emb, f"/tmp/bench_zero_shot_{mode}_{n_templates}.pt")
    return {"peak_bytes": peak, "seconds": seconds, "shape": list(emb.shape)}


def run(n_templates: int, prompt_batch: int, mode: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(n_templates),
            "--prompt-batch",
            str(prompt_batch),
            "--mode",
            mode,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", type=int)
    ap.add_argument("--prompt-batch", type=int, default=1024)
    ap.add_argument("--mode", default="batched")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.prompt_batch, args.mode)))
        return
    import torch

    mb = 2**20
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:  # separate processes: each measures its own peak
        jobs = {t: pool.submit(run, t, args.prompt_batch, "batched") for t in (8, 80)}
        one_job = pool.submit(run, 8, args.prompt_batch, "one_batch")
        res = {t: j.result() for t, j in jobs.items()}
        one = one_job.result()
    for t, r in res.items():
        print(
            f"batched, 1000 classes x {t:2d} templates: peak +{r['peak_bytes'] / mb:7.1f} MiB, "
            f"{r['seconds']:6.1f} s, embeddings {r['shape']}"
        )
    print(
        f"one batch, 1000 classes x  8 templates: peak +{one['peak_bytes'] / mb:7.1f} MiB, "
        f"{one['seconds']:6.1f} s (the replaced code; x 10 prompts at 80 templates)"
    )
    ratio = res[80]["peak_bytes"] / res[8]["peak_bytes"]
    print(f"peak ratio 80 / 8 templates: {ratio:.3f} (goal < 1.2)")
    a = torch.load("/tmp/bench_zero_shot_batched_8.pt")
    b = torch.load("/tmp/bench_zero_shot_one_batch_8.pt")
    diff = float((a - b).abs().max())
    print(f"max |batched - one batch| of class embeddings (8 templates): {diff:.2e} (goal <= 1e-6)")


if __name__ == "__main__":
    main()
