"""DiffusersPipelineDataset: round trip of a tiny real SD pipeline, and each refusal/error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

from imitation_kedro.datasets import DiffusersPipelineDataset

from .conftest import generate


@pytest.fixture(scope="module")
def saved_dir(tiny_sd_pipeline, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sd") / "tiny_sd"
    DiffusersPipelineDataset(path=str(path)).save(tiny_sd_pipeline)
    return path


def test_round_trip_gives_same_images_for_same_seed(tiny_sd_pipeline, saved_dir):
    files = {p.relative_to(saved_dir).as_posix() for p in saved_dir.rglob("*") if p.is_file()}
    assert "model_index.json" in files
    assert {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors"} <= files  # fmt: skip
    assert not [f for f in files if f.endswith((".bin", ".pt", ".ckpt"))]
    assert any(f.startswith("tokenizer/") for f in files)

    loaded = DiffusersPipelineDataset(path=str(saved_dir)).load()
    assert type(loaded).__name__ == "StableDiffusionPipeline"
    before, after = generate(tiny_sd_pipeline, seed=11), generate(loaded, seed=11)
    assert before.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(before, after)
    assert not np.array_equal(after, generate(loaded, seed=12))  # the seed matters
    # the offline tokenizer survives save_pretrained/from_pretrained unchanged
    text = "Gérard's café, don't"
    assert loaded.tokenizer(text).input_ids == tiny_sd_pipeline.tokenizer(text).input_ids
    assert loaded.tokenizer.model_max_length == 16


def test_second_save_refuses_non_empty_dir_unless_overwrite(tiny_sd_pipeline, tmp_path):
    path = tmp_path / "model"
    DiffusersPipelineDataset(path=str(path)).save(tiny_sd_pipeline)
    with pytest.raises(
        DatasetError, match=rf"refusing to overwrite .*{path.name}.*overwrite: true"
    ):
        DiffusersPipelineDataset(path=str(path)).save(tiny_sd_pipeline)

    from diffusers import DPMSolverMultistepScheduler

    tiny_sd_pipeline_copy = type(tiny_sd_pipeline)(**tiny_sd_pipeline.components)
    tiny_sd_pipeline_copy.scheduler = DPMSolverMultistepScheduler.from_config(
        tiny_sd_pipeline.scheduler.config
    )
    DiffusersPipelineDataset(path=str(path), overwrite=True).save(tiny_sd_pipeline_copy)
    reloaded = DiffusersPipelineDataset(path=str(path)).load()
    assert type(reloaded.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_overwrite_never_replaces_a_foreign_directory(tiny_sd_pipeline, tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(DatasetError, match="not a saved diffusers pipeline"):
        DiffusersPipelineDataset(path=str(tmp_path), overwrite=True).save(tiny_sd_pipeline)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_versioned_catalog_entry_saves_each_run_and_loads_latest(tiny_sd_pipeline, tmp_path):
    config = {
        "mdl_t2i": {
            "type": "imitation_kedro.datasets.DiffusersPipelineDataset",
            "path": str(tmp_path / "t2i"),
            "versioned": True,
        }
    }
    for _ in range(2):
        DataCatalog.from_config(config).save("mdl_t2i", tiny_sd_pipeline)
    versions = sorted((tmp_path / "t2i").iterdir())
    assert len(versions) == 2 and all((v / "t2i" / "model_index.json").is_file() for v in versions)
    catalog = DataCatalog.from_config(config)
    assert catalog.exists("mdl_t2i")
    assert type(catalog.load("mdl_t2i")).__name__ == "StableDiffusionPipeline"


def test_load_args_dtype_scheduler_and_safety_checker(saved_dir):
    import torch

    pipe = DiffusersPipelineDataset(
        path=str(saved_dir),
        load_args={
            "torch_dtype": "bfloat16",
            "scheduler": {
                "class": "DPMSolverMultistepScheduler",
                "config": {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
            },
            "safety_checker": False,
        },  # fmt: skip
    ).load()
    assert pipe.unet.dtype == torch.bfloat16
    assert type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert pipe.scheduler.config.use_karras_sigmas is True
    assert pipe.scheduler.config.num_train_timesteps == 1000  # kept from the saved scheduler
    assert pipe.safety_checker is None

    with pytest.raises(DatasetError, match="torch_dtype 'float8'"):
        DiffusersPipelineDataset(path=str(saved_dir), load_args={"torch_dtype": "float8"})
    with pytest.raises(DatasetError, match="'NoSuchScheduler' is not a diffusers scheduler"):
        DiffusersPipelineDataset(
            path=str(saved_dir), load_args={"scheduler": "NoSuchScheduler"}
        ).load()
    with pytest.raises(DatasetError, match="has no safety checker"):
        DiffusersPipelineDataset(path=str(saved_dir), load_args={"safety_checker": True}).load()


def test_pipeline_class_resolution(saved_dir):
    pipe = DiffusersPipelineDataset(
        path=str(saved_dir), pipeline_class="diffusers.StableDiffusionImg2ImgPipeline"
    ).load()
    assert type(pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    with pytest.raises(DatasetError, match="not a diffusers.DiffusionPipeline subclass"):
        DiffusersPipelineDataset(
            path=str(saved_dir), pipeline_class="collections.OrderedDict"
        ).load()
    with pytest.raises(DatasetError, match="neither in diffusers nor in imitation_kedro.models"):
        DiffusersPipelineDataset(path=str(saved_dir), pipeline_class="NoSuchPipeline").load()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"load_args": {"trust_remote_code": True}},
        {"load_args": {"custom_pipeline": "lpw_stable_diffusion"}},
        {"load_args": {"scheduler": {"config": {"trust_remote_code": True}}}},
        {"save_args": {"custom_pipeline": "x"}},
    ],
)
def test_remote_code_is_refused(kwargs, tmp_path):
    with pytest.raises(DatasetError, match="(trust_remote_code|custom_pipeline) is refused"):
        DiffusersPipelineDataset(path=str(tmp_path), **kwargs)


def test_pickle_only_weights_are_refused_with_conversion_hint(saved_dir, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    copy = tmp_path / "pickled"
    shutil.copytree(saved_dir, copy)
    weights = copy / "unet" / "diffusion_pytorch_model.safetensors"
    torch.save(load_file(weights), copy / "unet" / "diffusion_pytorch_model.bin")
    weights.unlink()
    with pytest.raises(
        DatasetError,
        match=r"only pickle weights \(unet/diffusion_pytorch_model.bin\).*safe_serialization=True",
    ):
        DiffusersPipelineDataset(path=str(copy)).load()


def test_custom_code_in_model_index_is_refused(saved_dir, tmp_path):
    import shutil

    copy = tmp_path / "custom"
    shutil.copytree(saved_dir, copy)
    index = json.loads((copy / "model_index.json").read_text())
    index["_class_name"] = ["pipeline", "EvilPipeline"]
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(DatasetError, match="custom pipeline code, which is refused"):
        DiffusersPipelineDataset(path=str(copy)).load()
    index["_class_name"] = "StableDiffusionPipeline"
    index["unet"] = ["evil_module", "UNet"]
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(DatasetError, match="component 'unet' comes from library 'evil_module'"):
        DiffusersPipelineDataset(path=str(copy)).load()


def test_missing_path_and_offline_hub_id_give_one_line_errors(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_model"
    ds = DiffusersPipelineDataset(path=str(missing))
    assert not ds.exists()
    with pytest.raises(DatasetError, match=f"path does not exist: {missing}"):
        ds.load()
    with pytest.raises(DatasetError, match="no model_index.json"):
        DiffusersPipelineDataset(path=str(tmp_path)).load()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    hub = DiffusersPipelineDataset(model_id="stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert not hub.exists()
    with pytest.raises(
        DatasetError, match="set HF_HUB_OFFLINE=0 or give a local directory"
    ) as info:
        hub.load()
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in str(info.value)
    with pytest.raises(DatasetError, match="cannot save to the hub id"):
        hub.save(object())
    with pytest.raises(DatasetError, match="exactly one of `path` or `model_id`"):
        DiffusersPipelineDataset()


def test_save_rejects_non_pipelines(tmp_path):
    with pytest.raises(DatasetError, match="saves a diffusers DiffusionPipeline, got dict"):
        DiffusersPipelineDataset(path=str(tmp_path / "x")).save({"unet": 1})


def test_model_index_libraries_allowed():
    from imitation_kedro.datasets.diffusers_pipeline import _check_model_index

    sd15 = {
        "_class_name": "StableDiffusionPipeline",
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "image_encoder": [None, None],
        "mini": ["imitation_kedro.models.miniature_t2i", "Denoiser"],
    }
    assert _check_model_index(sd15, "sd15") == "StableDiffusionPipeline"
    for library in ("imitation_kedro.pipelines.world", "pipeline", "os"):
        with pytest.raises(DatasetError, match=f"comes from library '{library}'"):
            _check_model_index({**sd15, "unet": [library, "X"]}, "x")
