"""Pipeline runs on a tiny real StableDiffusionPipeline: determinism, sharding, resume, memory."""

from __future__ import annotations

import pandas as pd
import pytest

from imitation_kedro.pipelines.generation import render
from tests.pipelines.generation.conftest import (
    load_tiny_sd,
    make_params,
    png_bytes,
    run_generation,
    shard_manifest,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_sd_dir):
    """One uninterrupted run at batch size 1: the bytes every other run must reproduce."""
    import pandas as pd

    from tests.pipelines.generation.conftest import TINY_PARAMS  # noqa: F401

    concepts = pd.DataFrame(
        {
            "concept": ["Ray Moss", "Zoë Alder", "the red fox"],
            "slug": ["ray-moss", "zoe-alder", "the-red-fox"],
            "domain": ["style", "style", "motif"],
            "aliases": [["R. Moss"], [], ["red fox"]],
        }
    )
    root = tmp_path_factory.mktemp("reference")
    catalog = run_generation(root, concepts, load_tiny_sd(tiny_sd_dir), make_params(batch_size=1))
    return root, catalog, png_bytes(root)


def test_run_writes_every_image_and_a_complete_manifest(reference):
    root, catalog, images = reference
    # 2 style concepts x 2 templates x 3 + 1 motif concept x 1 template x 3
    assert len(images) == 15
    assert "tiny/ray-moss/1/0002.png" in images
    manifest = catalog.load("int_generation_manifest")
    assert len(manifest) == 15 and manifest["path"].is_unique
    assert "status" not in manifest.columns and "duration_s" not in manifest.columns
    assert manifest["weights_sha256"].nunique() == 1 and manifest["fingerprint"].is_unique
    assert manifest["seed"].tolist() == manifest["index"].tolist()  # paper seeds 0..n-1
    for column in ("steps", "guidance_scale", "height", "width", "scheduler", "dtype"):
        assert column in manifest.columns
    assert manifest["scheduler"].iloc[0] == "DDIMScheduler"
    assert (manifest[["height", "width"]] == 32).all().all()
    fox = manifest[manifest["concept"] == "the red fox"]
    assert fox["prompt"].iloc[0] == "the red fox's face portrait"
    assert (root / "grid.png").stat().st_size > 0
    assert sorted(p.name for p in (root / "grids" / "tiny").iterdir()) == [
        "ray-moss.png",
        "the-red-fox.png",
        "zoe-alder.png",
    ]


@pytest.mark.parametrize("batch_size", [4, 7])
def test_same_bytes_whatever_the_batch_size(tmp_path, concepts, tiny_sd_dir, reference, batch_size):
    run_generation(
        tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params(batch_size=batch_size)
    )
    assert png_bytes(tmp_path) == reference[2]


def test_two_shards_make_the_same_set_and_bytes(tmp_path, concepts, tiny_sd_dir, reference):
    for shard in (0, 1):
        params = make_params(batch_size=4, shard_index=shard, num_shards=2)
        run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), params, tags=["shard"])
    manifests = sorted(p.name for p in (tmp_path / "manifests" / "tiny").iterdir())
    assert manifests == ["shard-000-of-002.parquet", "shard-001-of-002.parquet"]
    parts = [pd.read_parquet(tmp_path / "manifests" / "tiny" / m) for m in manifests]
    assert 0 < len(parts[0]) < 15 and len(parts[0]) + len(parts[1]) == 15
    catalog = run_generation(
        tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params(num_shards=2), tags=["merge"]
    )
    merged = catalog.load("int_generation_manifest")
    assert len(merged) == 15 and merged["path"].is_unique
    assert png_bytes(tmp_path) == reference[2]


def test_merge_refuses_a_missing_shard(tmp_path, concepts, tiny_sd_dir):
    params = make_params(shard_index=1, num_shards=3)
    run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), params, tags=["shard"])
    with pytest.raises(Exception, match=r"shard manifest\(s\) \[0, 2\] of 3 are missing"):
        run_generation(
            tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params(num_shards=3), tags=["merge"]
        )


def test_killed_run_resumes_to_the_uninterrupted_set(
    tmp_path, concepts, tiny_sd_dir, reference, monkeypatch
):
    real = render.render_batch
    calls = {"n": 0}

    def dies_after_two_batches(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "render_batch", dies_after_two_batches)
    with pytest.raises(BaseException, match="killed"):
        run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params(batch_size=3))
    partial = png_bytes(tmp_path)
    assert len(partial) == 6  # two batches of 3 were saved before the "kill"
    # A half-written PNG, as a kill during the write leaves it.
    victim = tmp_path / "generated" / sorted(partial)[4]
    victim.write_bytes(victim.read_bytes()[:60])
    monkeypatch.setattr(render, "render_batch", real)
    catalog = run_generation(
        tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params(batch_size=3)
    )
    # Exact bytes, also after face_recognition (imported by other tests) has switched PIL's
    # LOAD_TRUNCATED_IMAGES on process-wide: the truncated PNG must still count as corrupt.
    assert png_bytes(tmp_path) == reference[2]
    manifest = shard_manifest(catalog).set_index("path")
    assert (manifest["status"] == "existing").sum() == 5
    assert manifest.loc[sorted(partial)[4][: -len(".png")], "status"] == "regenerated"
    assert (manifest["status"] == "generated").sum() == 9


def test_memory_holds_at_most_one_batch(tmp_path, concepts, tiny_sd_dir):
    from kedro_datasets.partitions import PartitionedDataset

    from imitation_kedro.pipelines.generation.nodes import (
        build_prompt_table,
        generate_images,
        plan_generation,
    )

    params = make_params(batch_size=4)
    plan = plan_generation(build_prompt_table(concepts, params), {}, params)
    lazy, logs = generate_images(plan, load_tiny_sd(tiny_sd_dir), params)
    (log,) = logs.values()
    assert log.batches == 0 and all(callable(v) for v in lazy.values())  # nothing rendered yet
    PartitionedDataset(
        path=str(tmp_path), dataset="pillow.ImageDataset", filename_suffix=".png"
    ).save(lazy)
    assert log.batches == 4  # ceil(15 / 4)
    assert log.peak_cached_images <= 4
    assert len(log.durations) == 15 and len(list(tmp_path.rglob("*.png"))) == 15


def test_rerun_with_everything_present_renders_nothing(
    tmp_path, concepts, tiny_sd_dir, monkeypatch
):
    run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params())
    before = png_bytes(tmp_path)

    def must_not_render(*args, **kwargs):
        raise AssertionError("rendered an image that was already complete")

    monkeypatch.setattr(render, "render_batch", must_not_render)
    catalog = run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params())
    assert png_bytes(tmp_path) == before
    assert set(shard_manifest(catalog)["status"]) == {"existing"}



def test_render_log_travels_through_the_catalog(reference):
    """The manifest's records come from the saved render log, not from a shared object;
    durations stay in the log (timing is not part of a handoff table)."""
    _, catalog, _ = reference
    logs = catalog.load("int_generation_render_logs")
    assert sorted(logs) == ["tiny/shard-000-of-001"]
    log = logs["tiny/shard-000-of-001"]()
    assert len(log["durations"]) == 15 and log["batches"] == 15  # batch size 1
    assert log["peak_cached_images"] <= 1 and log["images_per_s"] > 0
    assert log["settings"]["scheduler"] == "DDIMScheduler" and log["settings"]["device"] == "cpu"
    manifest = catalog.load("int_generation_manifest").set_index("path")
    for path, entry in log["images"].items():
        assert manifest.loc[path, "fingerprint"] == entry["record"]["fingerprint"]
