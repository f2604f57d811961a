"""Catalog parsing with the model datasets must not import torch/diffusers/open_clip."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_datasets_import_and_construct_without_torch(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from kedro.io import DataCatalog
        import imitation_kedro.datasets as d
        assert sorted(d.__all__) == [
            "DiffusersPipelineDataset", "OpenClipModelDataset", "OptionalPartitionedDataset",
            "SafetensorsDataset",
        ]
        catalog = DataCatalog.from_config({{
            "mdl_t2i": {{"type": "imitation_kedro.datasets.DiffusersPipelineDataset",
                         "path": "{tmp_path}/t2i", "overwrite": True,
                         "load_args": {{"torch_dtype": "float16", "scheduler": "DDIMScheduler"}}}},
            "mdl_clip": {{"type": "imitation_kedro.datasets.OpenClipModelDataset", "path": "{tmp_path}/c"}},
            "feat_t": {{"type": "imitation_kedro.datasets.SafetensorsDataset",
                        "filepath": "{tmp_path}/t.safetensors", "versioned": True}},
            "raw_opt": {{"type": "imitation_kedro.datasets.OptionalPartitionedDataset",
                         "path": "{tmp_path}/none", "dataset": "pandas.ParquetDataset"}},
        }})
        for name in ("mdl_t2i", "mdl_clip", "feat_t"):
            assert not catalog.exists(name), name
        assert catalog.load("raw_opt") == {{}}
        print(str(catalog["mdl_t2i"]))
        heavy = sorted(m for m in ("torch", "diffusers", "transformers", "open_clip") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DiffusersPipelineDataset" in result.stdout


def test_paper_catalog_entries_are_expressible():
    """conf/paper shapes: SD1.5 hub id in fp32; SD2.1 fp16 + DPM-Solver++; ViT-H-14 gate."""
    from kedro.io import DataCatalog

    catalog = DataCatalog.from_config(
        {
            "mdl_sd15": {
                "type": "imitation_kedro.datasets.DiffusersPipelineDataset",
                "model_id": "stable-diffusion-v1-5/stable-diffusion-v1-5",
                "load_args": {"torch_dtype": "float32", "safety_checker": False, "device": "cuda"},
            },
            "mdl_sd21": {
                "type": "imitation_kedro.datasets.DiffusersPipelineDataset",
                "model_id": "stabilityai/stable-diffusion-2-1",
                "load_args": {
                    "torch_dtype": "float16",
                    "variant": "fp16",
                    "revision": "main",
                    "scheduler": {
                        "class": "DPMSolverMultistepScheduler",
                        "config": {"algorithm_type": "dpmsolver++"},
                    },
                },
            },
            "mdl_gate": {
                "type": "imitation_kedro.datasets.OpenClipModelDataset",
                "model_name": "ViT-H-14",
                "pretrained": "laion2b_s32b_b79k",
                "load_args": {"device": "cuda", "precision": "fp16"},
            },
        }
    )
    described = str(catalog["mdl_sd21"])
    assert "DPMSolverMultistepScheduler" in described and "float16" in described
    assert "laion2b_s32b_b79k" in str(catalog["mdl_gate"])
