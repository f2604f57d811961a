"""Issue 20, problems 2 and 3: the embedding cache is keyed on image content and its
partitions are written atomically; a truncated partition is logged and redone.

Before: generated images were keyed on path + settings, so PNGs replaced on disk kept their
old vectors; a partition cut short by a kill made every later load of the cache fail.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from PIL import Image

from imitation_kedro.datasets.atomic import AtomicParquetDataset
from imitation_kedro.pipelines.similarity.embedding_cache import cache_rows, load_cache

from .conftest import ColourEmbedder
from .test_pipeline import run_pipeline


def test_replaced_generations_are_embedded_again_not_read_from_the_cache(world, params):
    first = run_pipeline(world, ColourEmbedder(), params)
    cache = first["int_similarity_embedding_cache"]
    concept = "Spiral Motif"
    black = np.zeros((32, 32, 3), dtype=np.uint8)
    replaced = {p for p in world["int_generated_images"] if "/spiral-motif/" in p}
    assert replaced
    for path in replaced:
        world["int_generated_images"][path] = partial(Image.fromarray, black, "RGB")
    again = ColourEmbedder()
    second = run_pipeline(world, again, params, prior=cache)
    assert again.images == len(replaced)  # exactly the replaced images, nothing else
    scores = {
        name: frame.set_index(["concept", "prompt_id"])["score"]
        for name, frame in (
            ("old", first["prm_imitation_scores"]),
            ("new", second["prm_imitation_scores"]),
        )
    }
    changed = scores["old"].index[(scores["old"] - scores["new"]).abs() > 1e-6]
    assert {c for c, _ in changed} == {concept}


def test_truncated_cache_partition_is_logged_ignored_and_rewritten(tmp_path, caplog):
    from kedro_datasets.partitions import IncrementalDataset, PartitionedDataset

    frame = cache_rows("emb", 2, {"a#1": (1, np.array([0.6, 0.8], dtype=np.float32))})
    folder = tmp_path / "cache"
    spec = {"type": AtomicParquetDataset.__module__ + ".AtomicParquetDataset"}
    writer = PartitionedDataset(path=str(folder), dataset=spec, filename_suffix=".parquet")
    writer.save({"emb/good": frame, "emb/bad": frame})
    bad = folder / "emb" / "bad.parquet"
    bad.write_bytes(bad.read_bytes()[:40])  # a kill mid-write, as in-place writes left it
    (folder / "emb" / ".good.parquet.999.tmp").write_bytes(b"leftover")
    prior = IncrementalDataset(
        path=str(folder), dataset={**spec, "corrupt": "skip"}, filename_suffix=".parquet"
    ).load()
    assert sorted(prior) == ["emb/bad", "emb/good"]  # the temp file is never listed
    entries, _ = load_cache(prior, "emb", 2)
    assert list(entries) == ["a#1"]
    assert "unreadable" in caplog.text and "computed again" in caplog.text
    writer.save({"emb/bad": frame, "emb/good": frame})  # the rerun writes the chunk again
    assert pd.read_parquet(bad)["image_key"].tolist() == ["a#1"]
    assert not list(folder.rglob("*.tmp"))  # leftover temp removed by the next save


def test_atomic_parquet_save_respects_the_umask(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        AtomicParquetDataset(filepath=str(tmp_path / "t.parquet")).save(pd.DataFrame({"a": [1]}))
    finally:
        os.umask(old)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o640
