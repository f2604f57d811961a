"""Issue 20, problem 1: resume keys images on a fingerprint of everything that determines them.

Before: resume matched by path (and size), so new settings or a retrained model kept the old
images ("15 already complete, 0 to render") and the manifest recorded the new settings.
"""

from __future__ import annotations

import pytest

from tests.pipelines.generation.conftest import (
    load_tiny_sd,
    make_params,
    png_bytes,
    run_generation,
    shard_manifest,
)

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _status(catalog):
    return shard_manifest(catalog).set_index("path")[["status", "status_reason"]]


def test_one_changed_setting_or_model_rerenders_exactly_the_affected_images(
    tmp_path, concepts, tiny_sd_dir, monkeypatch
):
    run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params())
    first = png_bytes(tmp_path)

    # Another sampling setting: every image is stale, named by the setting that changed.
    steps3 = make_params(
        models={"tiny": {"steps": 3, "guidance_scale": 7.5, "height": 32, "width": 32}}
    )
    from imitation_kedro.pipelines.generation import nodes

    seen: list[str] = []

    class Log:
        def info(self, msg, *args):
            seen.append(msg % args)

        warning = info

    monkeypatch.setattr(nodes, "logger", Log())
    catalog = run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), steps3)
    status = _status(catalog)
    assert (status["status"] == "rerendered").all()
    assert set(status["status_reason"]) == {"settings changed: steps"}
    assert "0 reused (fingerprint matches), 15 to render; 15 settings changed: steps" in "\n".join(
        seen
    )
    manifest = catalog.load("int_generation_manifest")
    assert set(manifest["steps"]) == {3}
    second = png_bytes(tmp_path)
    assert all(second[p] != first[p] for p in first)

    # One template changed: only that domain's images (the motif concept, 3) are redone.
    templates = {**make_params().templates, "motif": ["a portrait of {concept}"]}
    params = steps3.model_copy(update={"templates": templates})
    catalog = run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), params)
    status = _status(catalog)
    assert (status["status"] == "rerendered").sum() == 3
    assert set(status.loc[status["status"] == "rerendered", "status_reason"]) == {
        "settings changed: prompt"
    }
    third = png_bytes(tmp_path)
    assert sum(third[p] == second[p] for p in second) == 12

    # Retrained model (one weight nudged): every image is redone, reason "model weights".
    pipe = load_tiny_sd(tiny_sd_dir)
    with __import__("torch").no_grad():
        next(pipe.unet.parameters()).add_(0.01)
    catalog = run_generation(tmp_path, concepts, pipe, params)
    status = _status(catalog)
    assert set(status["status_reason"]) == {"model weights changed"}
    weights = catalog.load("int_generation_manifest")["weights_sha256"]
    assert weights.nunique() == 1 and weights.iloc[0] != manifest["weights_sha256"].iloc[0]


def test_manifest_records_what_images_were_made_with_not_this_call(
    tmp_path, concepts, tiny_sd_dir, monkeypatch
):
    """Before: a rerun with nothing to render recorded the current call's settings."""
    from imitation_kedro.pipelines.generation import nodes

    run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params())
    # The same image bytes come out of "another device kind"? No: the device kind is part of
    # the fingerprint. Here only a non-determining value differs: the recorded device string.
    real = nodes._model_record

    def on_cpu1(pipe, params, device):
        return {**real(pipe, params, device), "device": "cpu:1"}

    monkeypatch.setattr(nodes, "_model_record", on_cpu1)
    catalog = run_generation(tmp_path, concepts, load_tiny_sd(tiny_sd_dir), make_params())
    assert set(shard_manifest(catalog)["status"]) == {"existing"}
    assert set(catalog.load("int_generation_manifest")["device"]) == {"cpu"}


def test_same_fingerprints_and_bytes_with_another_batch_size_and_shards(
    tmp_path, concepts, tiny_sd_dir
):
    one = tmp_path / "one"
    run_generation(one, concepts, load_tiny_sd(tiny_sd_dir), make_params(batch_size=1))
    split = tmp_path / "split"
    for i in range(2):
        run_generation(
            split,
            concepts,
            load_tiny_sd(tiny_sd_dir),
            make_params(batch_size=4, num_shards=2, shard_index=i),
            tags=["shard"],
        )
    catalog = run_generation(
        split, concepts, load_tiny_sd(tiny_sd_dir), make_params(num_shards=2), tags=["merge"]
    )
    assert png_bytes(one) == png_bytes(split)
    assert (one / "manifest.parquet").read_bytes() == (split / "manifest.parquet").read_bytes()
    assert catalog.load("int_generation_manifest")["pixels_sha256"].is_unique
