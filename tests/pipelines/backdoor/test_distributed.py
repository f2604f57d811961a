"""Issue 18, problem 6: data-parallel evaluation and writing, on CPU with two gloo processes.

Evaluation shards the validation set by whole batches and gathers the scores: the metrics equal
the single-process ones exactly. Only rank 0 writes: DistributedHook gives every other rank
in-memory outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from imitation_kedro.pipelines.backdoor.evaluate import EvalSet

from .conftest import TINY_CFG

CLASSES = [f"class {i}" for i in range(12)]
TEMPLATES = ["a photo of a {}.", "{} close up", "a drawing of the {}."]


def _inputs():
    import torch

    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 256, (50, 3, 16, 16), dtype=torch.uint8, generator=gen)
    trig = clean.clone()
    trig[:, :, :4, :4] = 255
    labels = np.arange(50) % len(CLASSES)
    return EvalSet(clean, trig, labels)


def _evaluate() -> tuple[dict[str, float], list[list[float]]]:
    from imitation_kedro.models.untrained_clip import untrained_clip
    from imitation_kedro.pipelines.backdoor.evaluate import class_embeddings, evaluate

    bundle = untrained_clip(None, TINY_CFG, seed=0, logit_scale_init=2.659)
    metrics = evaluate(bundle, {"test": _inputs()}, CLASSES, TEMPLATES, 3, [1, 5], 8, 5)
    emb = class_embeddings(bundle, CLASSES, TEMPLATES, 5)
    return metrics, emb.tolist()


def _worker(rank: int, world: int, init: str, out: str) -> None:
    import torch
    import torch.distributed as dist
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Node, Pipeline
    from kedro_datasets.json import JSONDataset

    from imitation_kedro.hooks import DistributedHook

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    catalog = DataCatalog()
    catalog["written"] = JSONDataset(filepath=str(Path(out, "written.json")))
    pipe = Pipeline([Node(lambda: 1, None, "written", name="make")])
    DistributedHook().before_pipeline_run(pipe, catalog)
    metrics, emb = _evaluate()
    in_memory = isinstance(catalog.get("written"), MemoryDataset)
    Path(out, f"rank{rank}.json").write_text(
        json.dumps({"metrics": metrics, "emb": emb, "in_memory": in_memory})
    )
    DistributedHook().after_pipeline_run()


@pytest.mark.slow
def test_two_gloo_ranks_give_the_single_process_metrics(tmp_path):
    mp = pytest.importorskip("torch.multiprocessing")
    single, single_emb = _evaluate()
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_worker, args=(2, init, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r in ranks:
        assert r["metrics"] == single  # exact: the same batches, gathered in order
        assert np.abs(np.array(r["emb"]) - np.array(single_emb)).max() <= 1e-6
    assert [r["in_memory"] for r in ranks] == [False, True]  # rank 0 writes, rank 1 does not


RN_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "patch_size": None},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


def _train() -> dict:
    import torch

    from imitation_kedro.models.untrained_clip import untrained_clip
    from imitation_kedro.pipelines.backdoor.params import OptimParams
    from imitation_kedro.pipelines.backdoor.train import TrainData, train

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=gen)
    tokens = torch.randint(1, 400, (32, 12), generator=gen)
    tokens[:, -1] = 49407  # end of text
    bundle = untrained_clip(None, RN_CFG, seed=0, logit_scale_init=2.659)
    optim = OptimParams(epochs=2, batch_size=16, lr=1e-3, warmup_steps=2, shards=2)
    data = TrainData(images, tokens, tokens.flip(0))
    out = train(bundle, data, "mmcl_ssl", optim, 1e-3, 1.0, 1.0, 4.6052, 0, "none")
    return {k: v.tolist() for k, v in out.state_dict.items() if v.is_floating_point()}


def _train_worker(rank: int, world: int, init: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    Path(out, f"train{rank}.json").write_text(json.dumps(_train()))
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_train_like_one_process_with_two_shards(tmp_path):
    """RN50-style BatchNorm is per shard: one process with optim.shards 2 and two ranks take the
    same steps (the ranks' gradients are summed, the logit scale's kept)."""
    mp = pytest.importorskip("torch.multiprocessing")
    single = _train()
    mp.spawn(_train_worker, args=(2, f"file://{tmp_path / 'rdv'}", str(tmp_path)), nprocs=2)
    for rank in (0, 1):
        ranked = json.loads((tmp_path / f"train{rank}.json").read_text())
        diffs = {
            k: float(np.abs(np.array(ranked[k]) - np.array(v)).max()) for k, v in single.items()
        }
        worst = max(diffs, key=diffs.get)
        assert diffs[worst] <= 1e-6, (worst, diffs[worst])
