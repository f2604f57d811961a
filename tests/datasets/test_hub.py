"""models.hub: one resolution of "local dir or hub id" for both model datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imitation_kedro.models.hub import (
    ModelSourceError,
    check_no_pickle_only,
    resolve_hub_file,
    resolve_model_source,
    write_model_dir,
)


def _fake_cache(root: Path, repo: str, files: dict[str, str] | Path) -> Path:
    """The huggingface_hub cache layout: models--org--name/{refs/main, snapshots/<sha>/...}."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(sha)
    snapshot = repo_dir / "snapshots" / sha
    if isinstance(files, Path):
        shutil.copytree(files, snapshot)
    else:
        snapshot.mkdir(parents=True)
        for name, text in files.items():
            (snapshot / name).write_text(text)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_local_paths_and_malformed_ids(tmp_path):
    assert resolve_model_source(path=tmp_path).is_local
    assert resolve_model_source(model_id=str(tmp_path)).location == str(tmp_path)
    with pytest.raises(ModelSourceError, match=f"model path does not exist: {tmp_path / 'x'}"):
        resolve_model_source(path=tmp_path / "x")
    with pytest.raises(ModelSourceError, match="path does not exist: ./models/sd"):
        resolve_model_source(model_id="./models/sd")
    with pytest.raises(ModelSourceError, match="neither an existing local directory nor a hub id"):
        resolve_model_source(model_id="org/name with spaces")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ModelSourceError, match="is not a directory"):
        resolve_model_source(path=tmp_path / "f.txt")
    with pytest.raises(ModelSourceError, match="exactly one of"):
        resolve_model_source(path=tmp_path, model_id="a/b")


def test_offline_hub_id_resolves_to_cached_snapshot(offline_cache):
    snapshot = _fake_cache(offline_cache, "org/model", {"model_index.json": "{}"})
    source = resolve_model_source(model_id="org/model")
    assert source.is_local and Path(source.location) == snapshot and source.hub_id == "org/model"
    assert resolve_hub_file("org/model", "model_index.json") == str(snapshot / "model_index.json")
    with pytest.raises(ModelSourceError, match="org/other.*set HF_HUB_OFFLINE=0 or give a local"):
        resolve_model_source(model_id="org/other")
    with pytest.raises(ModelSourceError, match="org/model/weights.bin.*HF_HUB_OFFLINE=0"):
        resolve_hub_file("org/model", "weights.bin")


def test_diffusers_dataset_loads_a_cached_hub_id_offline(offline_cache, tiny_sd_pipeline, tmp_path):
    from imitation_kedro.datasets import DiffusersPipelineDataset

    saved = tmp_path / "saved"
    DiffusersPipelineDataset(path=str(saved)).save(tiny_sd_pipeline)
    _fake_cache(offline_cache, "org/tiny-sd", saved)
    ds = DiffusersPipelineDataset(model_id="org/tiny-sd", load_args={"revision": "main"})
    assert ds.exists()
    assert type(ds.load()).__name__ == "StableDiffusionPipeline"


def test_write_model_dir_is_atomic(tmp_path):
    target = tmp_path / "model"

    def good(d: Path) -> None:
        (d / "config.json").write_text("v1")

    write_model_dir(target, good, overwrite=False, marker="config.json")

    def crash(d: Path) -> None:
        (d / "config.json").write_text("half-written")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_model_dir(target, crash, overwrite=True, marker="config.json")
    assert (target / "config.json").read_text() == "v1"  # the previous model survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp leftovers
    with pytest.raises(ModelSourceError, match="wrote no config.json"):
        write_model_dir(target, lambda d: None, overwrite=True, marker="config.json")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelSourceError, match="a file with that name exists"):
        write_model_dir(tmp_path / "file", good, overwrite=True, marker="config.json")


def test_pickle_check_is_per_component(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "vae").mkdir()
    (tmp_path / "unet" / "m.safetensors").write_bytes(b"")
    (tmp_path / "unet" / "m.bin").write_bytes(b"")  # has a safetensors twin: fine
    check_no_pickle_only(tmp_path)
    (tmp_path / "vae" / "m.ckpt").write_bytes(b"")
    with pytest.raises(ModelSourceError, match=r"only pickle weights \(vae/m.ckpt\)"):
        check_no_pickle_only(tmp_path)


def test_saved_model_folders_follow_the_umask_not_mkdtemp(tmp_path):
    """Issue 20: model folders came out 0700 (tempfile.mkdtemp) whatever the umask."""
    import os

    from imitation_kedro.models.hub import write_model_dir

    def write(tmp):
        (tmp / "model_index.json").write_text("{}")
        (tmp / "unet").mkdir()
        (tmp / "unet" / "w.safetensors").write_bytes(b"x")

    leftover = tmp_path / ".model.saving-dead"
    leftover.mkdir()  # an interrupted save's temporary folder
    old = os.umask(0o027)
    try:
        write_model_dir(tmp_path / "model", write, overwrite=False, marker="model_index.json")
    finally:
        os.umask(old)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "model" / "unet").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "model" / "unet" / "w.safetensors").stat().st_mode & 0o777 == 0o640
    assert not leftover.exists()
