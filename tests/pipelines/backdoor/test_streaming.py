"""Streaming mode (data.streaming): same numbers as eager mode, bounded memory, counted rejects.

Eager and streaming decode the same files with the same code and apply the same seeded triggers;
the DataLoader gets its own generator (the global RNG that AutoAugment draws from in the main
process is untouched), so the metrics are equal exactly, with and without worker processes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from imitation_kedro.models.clip_checkpoints import EpochCheckpoints
from imitation_kedro.pipelines.backdoor import create_pipeline
from imitation_kedro.pipelines.backdoor import data as D
from imitation_kedro.pipelines.backdoor import images as I
from imitation_kedro.pipelines.backdoor import streaming as S
from imitation_kedro.pipelines.backdoor.params import AttackParams, BackdoorParams, DataParams
from imitation_kedro.pipelines.backdoor.pipeline import WORLD_INPUTS
from imitation_kedro.pipelines.backdoor.poison import poison_pairs
from imitation_kedro.pipelines.backdoor.source import pair_source

from .conftest import (
    CLASSES,
    add_params,
    build_pairs,
    concepts_table,
    make_pairs,
    tiny_params_dict,
)
from .test_pipeline import OUTPUTS, RESUME, KeptMemoryDataset

TIMING = {"pairs_per_s", "train_s", "run_s", "decode_rejects"}


def on_disk(tmp_path: Path, n: int, size: int = 16, seed: int = 0) -> pd.DataFrame:
    """PNG files under tmp_path/img and a CleanCLIP-style table ``image,caption`` of their paths."""
    pairs = make_pairs(n, size=size, seed=seed)
    (tmp_path / "img").mkdir(exist_ok=True)
    for key, png in zip(pairs["key"], pairs["png"], strict=True):
        (tmp_path / "img" / f"{key}.png").write_bytes(png)
    return pd.DataFrame(
        {"image": [f"img/{k}.png" for k in pairs["key"]], "caption": pairs["caption"]}
    )


def small_params(tmp_path: Path, **data) -> BackdoorParams:
    raw = tiny_params_dict(
        data={
            "n_selection": 16,
            "n_test": 16,
            "n_clean": 24,
            "min_class_pairs": 2,
            "image_root": str(tmp_path),
            **data,
        },
        attack={"n_poison": 10, "patch_location": "random"},
        pretrain={
            "objectives": ["mmcl_ssl"],
            "optim": {"epochs": 1, "batch_size": 16, "lr": 2e-3, "warmup_steps": 2},
        },
        clean={
            "objectives": ["mmcl_ssl"],
            "optim": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "warmup_steps": 1},
        },
    )
    return BackdoorParams(**raw)


def run_pipeline(table: pd.DataFrame, params: BackdoorParams, eval_table=None) -> DataCatalog:
    pytest.importorskip("torch").set_num_threads(1)
    catalog = DataCatalog()
    catalog[WORLD_INPUTS["raw_backdoor_pairs"]] = table
    catalog[WORLD_INPUTS["raw_backdoor_classes"]] = concepts_table()
    catalog[WORLD_INPUTS["raw_backdoor_eval"]] = (
        eval_table if eval_table is not None else pd.DataFrame()
    )
    add_params(catalog, params)
    catalog[RESUME] = EpochCheckpoints()
    for name in [*OUTPUTS, "int_backdoor_poisoned_pairs"]:
        catalog[name] = KeptMemoryDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def metrics(catalog: DataCatalog, name: str) -> pd.DataFrame:
    df = catalog.load(name)
    return df[[c for c in df.columns if c not in TIMING]].reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "eval_source"), [(0, "corpus"), (2, "table")])
def test_streaming_gives_the_eager_numbers(tmp_path, workers, eval_source):
    table = on_disk(tmp_path, 110, size=20)  # 20 px files squashed to 16: the resize path too
    ev = None
    if eval_source == "table":  # ImageNet layout: image paths + integer labels
        ev_pairs = make_pairs(40, size=16, seed=7)
        (tmp_path / "val").mkdir()
        for key, png in zip(ev_pairs["key"], ev_pairs["png"], strict=True):
            (tmp_path / "val" / f"{key}.png").write_bytes(png)
        ev = pd.DataFrame(
            {
                "image": [f"{k}.png" for k in ev_pairs["key"]],
                "label": [
                    next(i for i, c in enumerate(CLASSES) if c in cap)
                    for cap in ev_pairs["caption"]
                ],
            }
        )
    extra = {"eval_source": eval_source, "eval_image_root": str(tmp_path / "val")}
    eager = run_pipeline(table, small_params(tmp_path, **extra), ev)
    stream = run_pipeline(
        table, small_params(tmp_path, streaming=True, loader_workers=workers, **extra), ev
    )
    for name in ("out_backdoor_pretrain_metrics", "out_backdoor_cleaning_results"):
        pd.testing.assert_frame_equal(metrics(eager, name), metrics(stream, name))
        assert (stream.load(name)["decode_rejects"] == 0).all()
    pd.testing.assert_frame_equal(
        eager.load("prm_backdoor_poison_manifest"), stream.load("prm_backdoor_poison_manifest")
    )
    poisoned = stream.load("int_backdoor_poisoned_pairs")
    assert poisoned["png"].isna().all() and poisoned["poisoned"].sum() == 10  # paths, no bytes


def test_streaming_build_reads_no_image(tmp_path, monkeypatch):
    table = on_disk(tmp_path, 30)

    def boom(*args, **kwargs):
        raise AssertionError("an image was read while building the pair table")

    monkeypatch.setattr(Path, "read_bytes", boom)
    monkeypatch.setattr(I, "decode_image", boom)
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, rejects = build_pairs(table, concepts_table(), params)
    assert len(pairs) == 30 and rejects.empty
    assert pairs["image"].str.startswith(str(tmp_path)).all() and pairs["png"].isna().all()


def test_missing_file_is_named_and_counted(tmp_path, caplog):
    table = on_disk(tmp_path, 12)
    table.loc[3, "image"] = "img/nowhere.png"
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, rejects = build_pairs(table, concepts_table(), params)
    assert list(rejects["key"]) == ["3"] and list(rejects["reason"]) == [S.MISSING]
    assert "nowhere.png" in caplog.text and len(pairs) == 11
    # without the up-front check the loader counts it when its batch is read
    lazy, rejects = build_pairs(
        table,
        concepts_table(),
        DataParams(image_size=16, image_root=str(tmp_path), streaming=True, check_files=False),
    )
    assert rejects.empty
    data = _stream_data(lazy, DataParams(image_size=16))
    list(data.batches([list(range(12))], 1, 0, None))
    assert data.rejects.by_reason() == {S.MISSING: 1} and "3" in data.rejects.reasons


def _stream_data(pairs: pd.DataFrame, params: DataParams, workers: int = 0):
    torch = pytest.importorskip("torch")
    images = S.PairImages(pairs.assign(poisoned=False), params.image_size, AttackParams())
    rows = torch.arange(len(pairs))[:, None]  # token row i = i: alignment is checkable
    return S.StreamData(images, rows, rows + 1000, workers, 2)


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_image_is_a_counted_reject_and_the_batch_stays_aligned(tmp_path, workers):
    table = on_disk(tmp_path, 10)
    (tmp_path / "img" / "000000004.png").write_bytes(b"not a png at all")
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, rejects = build_pairs(table, concepts_table(), params)
    assert rejects.empty  # the file exists; decoding is per batch
    data = _stream_data(pairs, params, workers)
    out = list(data.batches([[0, 4, 7], [1, 2]], 1, 0, None))
    imgs, toks, toks_aug, _ = out[0]
    assert len(imgs) == len(toks) == len(toks_aug) == 2
    assert toks[:, 0].tolist() == [0, 7] and toks_aug[:, 0].tolist() == [1000, 1007]
    want = I.decode_image((tmp_path / "img" / "000000007.png").read_bytes(), 16)
    assert np.array_equal(imgs[1].permute(1, 2, 0).numpy(), want)  # image row 7 with token row 7
    assert data.rejects.by_reason() == {"undecodable image: UnidentifiedImageError": 1}
    assert list(data.rejects.reasons) == ["4"]  # no key column: the row number


def test_memory_is_one_batch_at_a_time(tmp_path):
    table = on_disk(tmp_path, 40)
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, _ = build_pairs(table, concepts_table(), params)
    data = _stream_data(pairs, params)
    batches = [list(range(i, i + 8)) for i in range(0, 40, 8)]
    for j, (imgs, *_rest) in enumerate(data.batches(batches, 1, 0, None)):
        assert len(imgs) == 8 and data.images.decoded == 8 * (j + 1)  # nothing decoded ahead


def test_streaming_poison_manifest_and_triggers_match_eager(tmp_path):
    table = on_disk(tmp_path, 60)
    attack = AttackParams(target="banana", n_poison=12, patch_size=4, patch_location="random")
    out = {}
    for streaming in (False, True):
        params = DataParams(
            image_size=16,
            image_root=str(tmp_path),
            streaming=streaming,
            n_test=5,
            n_selection=5,
            min_class_pairs=1,
        )
        pairs, _ = build_pairs(table, concepts_table(), params)
        split = D.split_pairs(pairs, CLASSES, params)
        source = pair_source(params, attack)
        out[streaming] = poison_pairs(split, CLASSES, ["a {}"], attack, 16, source=source)
    (eager, eager_man), (lazy, lazy_man) = out[False], out[True]
    pd.testing.assert_frame_equal(eager_man, lazy_man)
    assert (eager_man["patch_top"] >= 0).all()
    rows = lazy.index[lazy["poisoned"]]
    ds = S.PairImages(lazy.loc[rows].reset_index(drop=True), 16, attack)
    for i, row in enumerate(rows):
        got = ds[i][1][0].permute(1, 2, 0).numpy()
        assert np.array_equal(got, I.decode_image(eager.at[row, "png"], 16))


def test_augmenting_in_workers_does_not_depend_on_the_worker_count(tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from imitation_kedro.pipelines.backdoor.params import ModelParams, OptimParams
    from imitation_kedro.pipelines.backdoor.train import build_model, train

    from .conftest import TINY_CFG

    table = on_disk(tmp_path, 32)
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, _ = build_pairs(table, concepts_table(), params)
    states = []
    for workers in (0, 2):
        bundle = build_model(ModelParams(cfg=TINY_CFG), math.log(1 / 0.07), seed=0)
        toks = bundle.tokenizer(pairs["caption"].tolist())
        images = S.PairImages(pairs.assign(poisoned=False), 16, AttackParams())
        data = S.StreamData(images, toks, toks, workers, 2, augment_in_workers=True)
        optim = OptimParams(epochs=1, batch_size=16, lr=1e-3, warmup_steps=1)
        res = train(bundle, data, "mmcl_ssl", optim, 1e-3, 1.0, 1.0, math.log(100), seed=0)
        states.append(res.state_dict)
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def _gather_worker(rank: int, init: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    from imitation_kedro.pipelines.backdoor.losses import gather_features

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        x = torch.full((3 - rank, 2), float(rank), requires_grad=True)  # shards of 3 and 2 rows
        got = gather_features(x)
        got.sum().backward()  # gradient flows through the local shard only
        torch.save({"got": got.detach(), "grad": x.grad}, f"{out}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_feature_gather_pads_unequal_shards(tmp_path):
    """A rank that dropped an undecodable image gathers with the others (gloo, 2 processes)."""
    torch = pytest.importorskip("torch")
    import torch.multiprocessing as mp

    mp.spawn(_gather_worker, args=(f"file://{tmp_path}/rdv", str(tmp_path)), nprocs=2)
    for rank in (0, 1):
        res = torch.load(tmp_path / f"{rank}.pt")
        assert res["got"][:, 0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
        assert res["grad"].shape == (3 - rank, 2) and bool((res["grad"] == 1).all())


def test_workers_persist_across_epochs_and_close(tmp_path):
    table = on_disk(tmp_path, 24)
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, _ = build_pairs(table, concepts_table(), params)
    data = _stream_data(pairs, params, workers=2)
    batches = [list(range(i, i + 8)) for i in range(0, 24, 8)]
    pids, toks = [], []
    for epoch in (1, 2):
        toks.append([t[:, 0].tolist() for _, t, _, _ in data.batches(batches, epoch, 0, None)])
        pids.append([w.pid for w in data.loader._loader._iterator._workers])
    assert pids[0] == pids[1] and len(pids[0]) == 2  # the same worker processes both epochs
    assert toks[0] == toks[1] == batches
    workers = data.loader._loader._iterator._workers
    data.close()
    assert not any(w.is_alive() for w in workers)
    assert [t[:, 0].tolist() for _, t, _, _ in data.batches(batches[:1], 3, 0, None)] == [
        batches[0]
    ]  # usable again after close (fresh workers)
    data.close()


def test_dataset_holds_no_per_row_python_objects(tmp_path):
    table = on_disk(tmp_path, 6)
    params = DataParams(image_size=16, image_root=str(tmp_path), streaming=True)
    pairs, _ = build_pairs(table, concepts_table(), params)
    pairs.loc[2, "image"] = None
    pairs["png"] = [b"\x89PNG" if i == 4 else None for i in range(len(pairs))]
    ds = S.PairImages(pairs.assign(poisoned=False), 16, AttackParams())
    for col in (ds.keys, ds.paths, ds.pngs):
        assert isinstance(col.buffer, np.ndarray) and isinstance(col.offsets, np.ndarray)
    assert isinstance(ds.poisoned, np.ndarray)
    assert [ds.key(i) for i in range(6)] == pairs["key"].astype(str).tolist()
    assert ds.paths[2] is None and ds.paths[0].decode() == pairs.at[0, "image"]
    assert ds.pngs[4] == b"\x89PNG" and ds.pngs[0] is None
    assert ds[2][2] == S.MISSING and ds[4][2].startswith("undecodable image")
    assert ds[0][1] is not None
