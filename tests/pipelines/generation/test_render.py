"""Model-facing behaviour: settings applied, bad settings refused, any diffusers pipeline works."""

from __future__ import annotations

import io

import pytest

from imitation_kedro.pipelines.generation.nodes import (
    build_prompt_table,
    generate_images,
    plan_generation,
)
from tests.pipelines.generation.conftest import load_tiny_sd, make_params

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _render_all(pipe, concepts, params) -> dict[str, bytes]:
    plan = plan_generation(build_prompt_table(concepts, params), {}, params)
    lazy, _ = generate_images(plan, pipe, params)
    out = {}
    for path, make in sorted(lazy.items()):
        buf = io.BytesIO()
        make().save(buf, format="PNG")
        out[path] = buf.getvalue()
    return out


def test_scheduler_and_negative_prompt_are_applied_and_recorded(concepts, tiny_sd_dir):
    params = make_params(
        images_per_prompt=1,
        models={
            "tiny": {
                "steps": 2,
                "height": 32,
                "width": 32,
                "scheduler": "DPMSolverMultistepScheduler",
            }
        },
    )
    pipe = load_tiny_sd(tiny_sd_dir)
    plan = plan_generation(build_prompt_table(concepts, params), {}, params)
    lazy, logs = generate_images(plan, pipe, params)
    (log,) = logs.values()
    assert log.settings["scheduler"] == "DPMSolverMultistepScheduler"
    next(iter(lazy.values()))()
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert log.settings["batch_invariant_layers"] > 0
    plain = _render_all(load_tiny_sd(tiny_sd_dir), concepts, make_params(images_per_prompt=1))
    negative = make_params(
        images_per_prompt=1,
        models={"tiny": {"steps": 2, "height": 32, "width": 32, "negative_prompt": "blurry"}},
    )
    assert _render_all(load_tiny_sd(tiny_sd_dir), concepts, negative) != plain


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scheduler": "NoSuchScheduler"}, "'NoSuchScheduler' is not a diffusers scheduler"),
        (
            {"safety_checker": True},
            "safety_checker is true but the loaded pipeline has no safety checker",
        ),
        ({"dtype": "float16"}, "float16 is not supported on cpu"),
    ],
)
def test_bad_model_settings_fail_clearly(concepts, tiny_sd_dir, settings, message):
    params = make_params(images_per_prompt=1, models={"tiny": {"steps": 2, **settings}})
    plan = plan_generation(build_prompt_table(concepts, params), {}, params)
    lazy, _ = generate_images(plan, load_tiny_sd(tiny_sd_dir), params)
    with pytest.raises(ValueError, match=message):
        next(iter(lazy.values()))()


def test_checkpoint_mismatch_names_both(concepts, tiny_sd_dir):
    params = make_params(models={"tiny": {"checkpoint": "stabilityai/stable-diffusion-2-1"}})
    plan = plan_generation(build_prompt_table(concepts, params), {}, params)
    with pytest.raises(ValueError, match=r"stable-diffusion-2-1.*loaded '.*pipeline'"):
        generate_images(plan, load_tiny_sd(tiny_sd_dir), params)
    same = make_params(models={"tiny": {"checkpoint": str(tiny_sd_dir)}})
    generate_images(plan, load_tiny_sd(tiny_sd_dir), same)  # agrees: no error


def test_catalog_dataset_errors_for_unknown_hub_id_and_missing_dir(tmp_path, monkeypatch):
    datasets = pytest.importorskip("imitation_kedro.datasets.diffusers_pipeline")
    from kedro.io.core import DatasetError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(DatasetError, match="no-such-org/no-such-model"):
        datasets.DiffusersPipelineDataset(model_id="no-such-org/no-such-model").load()
    with pytest.raises(DatasetError, match="does not exist"):
        datasets.DiffusersPipelineDataset(path=str(tmp_path / "missing")).load()


def _random_miniature():
    """The world's pipeline class with random weights (no training): bytes, not quality."""
    import torch
    from diffusers import DDIMScheduler

    from imitation_kedro.models import miniature_t2i as m
    from imitation_kedro.models.tokenizer import clip_tokenizer

    torch.manual_seed(0)
    decoder = m.PCAAutoencoder(latent_dim=16)
    with torch.no_grad():
        decoder.components.normal_()
    denoiser = m.LatentDenoiser(latent_dim=16, cond_dim=16, hidden=32, blocks=1, time_dim=16)
    torch.nn.init.normal_(denoiser.out.weight)
    text_cfg = {"context_length": 32, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}
    return m.MiniatureTextToImagePipeline(
        text_encoder=m.ClipTextTower(embed_dim=16, text_cfg=text_cfg),
        tokenizer=clip_tokenizer(model_max_length=32),
        denoiser=denoiser,
        decoder=decoder,
        scheduler=DDIMScheduler(),
    )


def test_miniature_pipeline_bytes_do_not_depend_on_batch_size(concepts):
    pytest.importorskip("imitation_kedro.models.miniature_t2i")
    pipe_1 = _random_miniature()
    settings = {"miniature": {"steps": 3, "guidance_scale": 4.0}}
    one = _render_all(
        pipe_1, concepts, make_params(model="miniature", models=settings, batch_size=1)
    )
    five = _render_all(
        _random_miniature(), concepts, make_params(model="miniature", models=settings, batch_size=5)
    )
    assert len(one) == 15 and one == five
    assert len(set(one.values())) == 15  # 15 different images, not one repeated


def test_tiny_sd_bytes_do_not_depend_on_batch_size_even_with_hashed_seeds(concepts, tiny_sd_dir):
    one = _render_all(
        load_tiny_sd(tiny_sd_dir), concepts, make_params(seed_mode="hashed", batch_size=1)
    )
    six = _render_all(
        load_tiny_sd(tiny_sd_dir), concepts, make_params(seed_mode="hashed", batch_size=6)
    )
    assert one == six and len(set(one.values())) == 15
    paper = _render_all(load_tiny_sd(tiny_sd_dir), concepts, make_params(batch_size=6))
    assert paper != one


def test_without_batch_invariance_batch_size_changes_rounding_only(concepts, tiny_sd_dir):
    """Documents why batch_invariant exists: without it, pixels move by rounding at most."""
    import numpy as np
    from PIL import Image

    fast = make_params(batch_size=8, speed={"device": "cpu", "batch_invariant": False})
    a = _render_all(load_tiny_sd(tiny_sd_dir), concepts, fast)
    b = _render_all(load_tiny_sd(tiny_sd_dir), concepts, make_params(batch_size=1))
    diffs = [
        np.abs(
            np.asarray(Image.open(io.BytesIO(a[k])), dtype=int)
            - np.asarray(Image.open(io.BytesIO(b[k])), dtype=int)
        ).max()
        for k in a
    ]
    assert max(diffs) <= 2
