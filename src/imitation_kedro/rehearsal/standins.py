"""Tiny random-weight stand-ins of the paper's models, shaped like the real ones.

* :func:`tiny_stable_diffusion`: a diffusers ``StableDiffusionPipeline`` (``models/tiny_sd.py``)
  per model id with that model's saved scheduler (SD1.1/SD1.5: PNDM, epsilon; SD2.1: DDIM, v-prediction) and its size
  scaled down (512 -> 16 px, 768 -> 24 px), the CLIP tokenizer built offline;
* :func:`scrfd_standin` / :func:`arcface_standin`: ONNX graphs with SCRFD's (``det_10g``: input
  ``input.1`` N x 3 x H x W, nine outputs score/bbox/kps per stride 8, 16, 32) and ArcFace's
  (``data`` N x 3 x 112 x 112 -> 512-d) signatures; the detector finds one face in the centre of a
  square image;
* :func:`csd_standin`: a CSD checkpoint (safetensors, the authors' key layout) from a small config;
* :func:`artwork_gate_standin`: an open_clip model folder (``open_clip_config.json`` +
  ``open_clip_model.safetensors``) loadable as ``hf-hub:<id>``.

Torch, diffusers, onnx and open_clip are imported inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# The paper models' native size, scheduler and prediction type (FIT §2.3), and the scale-down.
SD_MODELS = {
    "sd11": {"size": 512, "scheduler": "PNDMScheduler", "prediction_type": "epsilon"},
    "sd15": {"size": 512, "scheduler": "PNDMScheduler", "prediction_type": "epsilon"},
    "sd21": {"size": 768, "scheduler": "DDIMScheduler", "prediction_type": "v_prediction"},
}
SCALE = 32  # 512 -> 16 px, 768 -> 24 px
SCRFD_SIZE = 640  # det_size=(640, 640)
STRIDES = (8, 16, 32)
ARCFACE_DIM = 512


def tiny_size(model: str) -> int:
    return SD_MODELS[model]["size"] // SCALE


def tiny_stable_diffusion(model: str, out: Path, seed: int = 0) -> Path:
    """Save a random-weight ``StableDiffusionPipeline`` shaped like ``model`` into ``out``."""
    from imitation_kedro.models.tiny_sd import save_tiny_stable_diffusion, tiny_scheduler

    spec = SD_MODELS[model]
    scheduler = tiny_scheduler(spec["scheduler"], spec["prediction_type"])
    return save_tiny_stable_diffusion(out, tiny_size(model), scheduler=scheduler, seed=seed)


def _save_onnx(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)
    return path


def scrfd_standin(path: Path) -> Path:
    """SCRFD's signature; one face, score 0.9, centred in a square ``SCRFD_SIZE`` canvas."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, outputs = [], [], []
    for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
        for stride in STRIDES:
            rows = (SCRFD_SIZE // stride) ** 2 * 2
            value = np.zeros((rows, width), np.float32)
            if stride == 32:
                cell = SCRFD_SIZE // stride // 2
                row = (cell * (SCRFD_SIZE // stride) + cell) * 2
                value[row] = {
                    "score": [0.9],
                    "bbox": [4.0, 4.0, 4.0, 4.0],
                    "kps": [-1.2, -1.0, 1.2, -1.0, 0.0, 0.2, -0.9, 1.4, 0.9, 1.4],
                }[kind]
            name = f"{kind}_{stride}"
            inits.append(numpy_helper.from_array(value, f"{name}_value"))
            nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [rows, width]))
    graph = helper.make_graph(
        nodes,
        "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])],
        outputs,
        inits,
    )
    return _save_onnx(graph, path)


def arcface_standin(path: Path, seed: int = 1) -> Path:
    """ArcFace's signature: ``data`` (N, 3, 112, 112) -> ``embedding`` (N, 512), random weights."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (16, 3, 8, 8)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(
            rng.normal(0, 0.1, (16 * 14 * 14, ARCFACE_DIM)).astype(np.float32), "fc_w"
        ),
        numpy_helper.from_array(np.int64([0, -1]), "flat"),
    ]
    nodes = [
        helper.make_node("Conv", ["data", "conv_w"], ["c"], strides=[8, 8]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "flat"], ["f"]),
        helper.make_node("MatMul", ["f", "fc_w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_standin",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", ARCFACE_DIM])],
        inits,
    )
    return _save_onnx(graph, path)


def csd_standin(path: Path, seed: int = 0) -> Path:
    """A CSD checkpoint (ViT backbone without projection + style/content heads), small config."""
    import torch
    from safetensors.torch import save_file

    from imitation_kedro.models.csd import CSDConfig, CSDModel

    torch.manual_seed(seed)
    model = CSDModel(
        CSDConfig(image_size=32, patch_size=8, width=64, layers=1, heads=1, style_dim=32)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(path)
    return path


GATE_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1},
}


def artwork_gate_standin(out: Path, seed: int = 0) -> Path:
    """An open_clip model folder with the DFN5B gate's files (config + safetensors weights)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    from imitation_kedro.models.open_clip_bundle import register_model_config

    register_model_config("rehearsal-artwork-gate", GATE_CONFIG)
    torch.manual_seed(seed)
    model = open_clip.create_model("rehearsal-artwork-gate", pretrained=None)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": GATE_CONFIG,
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "interpolation": "bicubic",
            "resize_mode": "shortest",
        },
    }
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=1))
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out / "open_clip_model.safetensors"),
    )
    return out
