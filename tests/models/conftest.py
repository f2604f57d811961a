"""Helpers for the model adapter tests: tiny ONNX graphs with real models' signatures."""

from __future__ import annotations

import numpy as np
import pytest


def tiny_arcface(path, out_dim: int = 16, sub_mul: bool = False) -> None:
    """A random ONNX 'recogniser' with ArcFace's I/O: (N,3,112,112) -> (N, out_dim)."""
    onnx = pytest.importorskip("onnx", reason="onnx builds the tiny test model")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (8, 3, 8, 8)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8, out_dim)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(np.float32([127.5]), "mean"),
        numpy_helper.from_array(np.float32([1 / 127.5]), "scale"),
    ]
    nodes = []
    first = "data"
    if sub_mul:  # like arcface_r100_v1: normalisation inside the graph
        nodes += [helper.make_node("Sub", ["data", "mean"], ["sub"]),
                  helper.make_node("Mul", ["sub", "scale"], ["norm"])]
        first = "norm"
    nodes += [
        helper.make_node("Conv", [first, "conv_w"], ["c"], strides=[8, 8]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "fc_w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", out_dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
