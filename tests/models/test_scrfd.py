"""SCRFD face detector adapter on tiny hand-made ONNX graphs with SCRFD's signature (offline).

The graphs take ``(1, 3, H, W)`` and return SCRFD's outputs, stride 8/16/32 with 2 anchors per
location: scores ``(cells * 2, 1)``, box distances ``(cells * 2, 4)`` and keypoint offsets
``(cells * 2, 10)`` (in stride units, as the real model). Either every output is a constant
(decode tests, values computed by hand below), or the stride-8 scores follow the image: the mean
brightness of each 8x8 cell of the letterboxed input (white square = face).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx", reason="onnx builds the tiny test models")
pytest.importorskip("onnxruntime", reason="onnxruntime runs the SCRFD detector")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from imitation_kedro.models.scrfd import (  # noqa: E402
    ScrfdFaceDetector,
    anchor_centres,
    letterbox,
    resize_bilinear,
)
from tests.models.conftest import tiny_arcface  # noqa: E402

STRIDES = (8, 16, 32)
SIZE = 64  # model input: grids 8x8, 4x4, 2x2
ROWS = {s: (SIZE // s) ** 2 * 2 for s in STRIDES}  # 128, 32, 8 anchors
# a face-like keypoint layout around the anchor centre (stride units): eyes, nose, mouth corners
FACE_KPS = np.float32([-0.5, -0.4, 0.5, -0.4, 0.0, 0.1, -0.35, 0.55, 0.35, 0.55])


def _empty() -> dict[str, dict[int, np.ndarray]]:
    return {
        "score": {s: np.zeros((ROWS[s], 1), np.float32) for s in STRIDES},
        "bbox": {s: np.zeros((ROWS[s], 4), np.float32) for s in STRIDES},
        "kps": {s: np.zeros((ROWS[s], 10), np.float32) for s in STRIDES},
    }


def _save(path, nodes, outputs, inits, dynamic: bool) -> None:
    shape = ["N", 3, "H", "W"] if dynamic else [1, 3, SIZE, SIZE]
    graph = helper.make_graph(
        nodes, "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)],
        outputs, inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _tiny_scrfd(
    path,
    values: dict[str, dict[int, np.ndarray]],
    *,
    keypoints: bool = True,
    image_scores: bool = False,
    dynamic: bool = False,
    interleaved: bool = False,
) -> None:
    """An ONNX graph with SCRFD's I/O returning ``values`` (``image_scores``: stride-8 scores from the image)."""
    nodes, inits, outputs = [], [], []
    kinds = ("score", "bbox", "kps") if keypoints else ("score", "bbox")
    order = (
        [(k, s) for s in STRIDES for k in kinds] if interleaved else [(k, s) for k in kinds for s in STRIDES]
    )
    for kind, stride in order:
        name = f"{kind}_{stride}"
        arr = values[kind][stride]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(arr.shape)))
        if image_scores and kind == "score" and stride == 8:
            cells = (SIZE // 8) ** 2
            inits += [
                numpy_helper.from_array(np.float32(0.0), "zero"),
                numpy_helper.from_array(np.float32(1.0), "one"),
                numpy_helper.from_array(np.float32([0.9]), "second_anchor"),
                numpy_helper.from_array(np.int64([cells, 1]), "cells_shape"),
                numpy_helper.from_array(np.int64([cells * 2, 1]), "rows_shape"),
            ]
            nodes += [
                helper.make_node("ReduceMean", ["input.1"], ["grey"], axes=[1], keepdims=1),
                helper.make_node("AveragePool", ["grey"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
                helper.make_node("Clip", ["pooled", "zero", "one"], ["clipped"]),
                helper.make_node("Reshape", ["clipped", "cells_shape"], ["a0"]),
                helper.make_node("Mul", ["a0", "second_anchor"], ["a1"]),
                helper.make_node("Concat", ["a0", "a1"], ["pairs"], axis=1),
                helper.make_node("Reshape", ["pairs", "rows_shape"], [name]),
            ]
        else:
            inits.append(numpy_helper.from_array(arr, f"{name}_value"))
            nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
    _save(path, nodes, outputs, inits, dynamic)


def _row(stride: int, row: int, col: int, anchor: int) -> int:
    return (row * (SIZE // stride) + col) * 2 + anchor


@pytest.fixture()
def decode_values():
    """Face A (stride 16, cell (1, 2), score 0.9) + its duplicate (anchor 1, 0.8), face B
    (stride 8, cell (5, 1), 0.7), and a 0.49 anchor below the threshold (stride 32)."""
    v = _empty()
    a, dup = _row(16, 1, 2, 0), _row(16, 1, 2, 1)
    for r, score in ((a, 0.9), (dup, 0.8)):
        v["score"][16][r] = score
        v["bbox"][16][r] = [1.0, 0.5, 1.5, 2.0]
        v["kps"][16][r] = [-0.5, -0.25, 0.5, -0.25, 0.0, 0.25, -0.25, 0.75, 0.25, 0.75]
    b = _row(8, 5, 1, 0)
    v["score"][8][b] = 0.7
    v["bbox"][8][b] = [0.5, 0.5, 0.5, 0.5]
    v["score"][32][_row(32, 1, 1, 1)] = 0.49
    v["bbox"][32][_row(32, 1, 1, 1)] = [1.0, 1.0, 1.0, 1.0]
    return v


# Original image 128 x 96 (w x h) -> letterboxed to 64 x 48 in the 64 x 64 input: scale 0.5.
# Face A: centre (2*16, 1*16) = (32, 16); box (32-16, 16-8, 32+24, 16+32) = (16, 8, 56, 48) in the
# input, / 0.5 -> (32, 16, 112, 96); keypoints (24,12) (40,12) (32,20) (28,28) (36,28) -> x2.
BOX_A = [32.0, 16.0, 112.0, 96.0]
KPS_A = [[48.0, 24.0], [80.0, 24.0], [64.0, 40.0], [56.0, 56.0], [72.0, 56.0]]
# Face B: centre (1*8, 5*8) = (8, 40); box (4, 36, 12, 44) -> (8, 72, 24, 88); keypoints at (16, 80)
BOX_B = [8.0, 72.0, 24.0, 88.0]


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("interleaved", [False, True])
def test_scrfd_decodes_boxes_and_keypoints_in_image_coordinates(tmp_path, decode_values, dynamic, interleaved):
    path = tmp_path / "scrfd.onnx"
    _tiny_scrfd(path, decode_values, dynamic=dynamic, interleaved=interleaved)
    det = ScrfdFaceDetector(path, input_size=SIZE)
    assert det.input_size == (SIZE, SIZE) and det.has_keypoints
    rgb = np.zeros((96, 128, 3), np.uint8)
    dets, kps = det.detect(rgb)
    # the duplicate (same box, 0.8) is removed by NMS, the 0.49 anchor by the threshold
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(dets[0, :4], BOX_A, atol=1e-4)
    np.testing.assert_allclose(dets[1, :4], BOX_B, atol=1e-4)
    np.testing.assert_allclose(kps[0], KPS_A, atol=1e-4)
    np.testing.assert_allclose(kps[1], [[16.0, 80.0]] * 5, atol=1e-4)

    faces = det.locate(rgb)
    assert len(faces) == 2
    points = det.five_points(rgb, faces[0])
    assert points.shape == (5, 2) and points.dtype == np.float64
    np.testing.assert_allclose(points, KPS_A, atol=1e-4)
    assert faces[0].location == (16, 112, 96, 32)  # dlib's (top, right, bottom, left)


def test_scrfd_thresholds(tmp_path, decode_values):
    path = tmp_path / "scrfd.onnx"
    _tiny_scrfd(path, decode_values)
    low = ScrfdFaceDetector(path, score_threshold=0.45, input_size=SIZE)
    rgb = np.zeros((96, 128, 3), np.uint8)
    assert np.allclose(low.detect(rgb)[0][:, 4], [0.9, 0.7, 0.49])  # >= threshold kept
    strict_nms = ScrfdFaceDetector(path, nms_threshold=1.0, input_size=SIZE)
    assert np.allclose(strict_nms.detect(rgb)[0][:, 4], [0.9, 0.8, 0.7])  # IoU 1 <= 1: kept
    high = ScrfdFaceDetector(path, score_threshold=0.95, input_size=SIZE)
    dets, kps = high.detect(rgb)
    assert dets.shape == (0, 5) and kps.shape == (0, 5, 2)
    assert high.locate(rgb) == []


def test_scrfd_nms_keeps_separate_overlapping_faces_apart_from_duplicates(tmp_path):
    v = _empty()
    # two boxes of side 32 at stride 16: centres 16 px apart -> IoU (16*32)/(2*32*32-16*32) = 1/3
    for (row, col), score in (((1, 1), 0.9), ((1, 2), 0.8)):
        r = _row(16, row, col, 0)
        v["score"][16][r] = score
        v["bbox"][16][r] = [1.0, 1.0, 1.0, 1.0]
    path = tmp_path / "scrfd.onnx"
    _tiny_scrfd(path, v)
    rgb = np.zeros((64, 64, 3), np.uint8)
    # InsightFace's +1 areas: inter 17*33, union 2*33*33 - 17*33 -> IoU 0.3469
    assert len(ScrfdFaceDetector(path, nms_threshold=0.4, input_size=SIZE).detect(rgb)[0]) == 2
    assert len(ScrfdFaceDetector(path, nms_threshold=0.3, input_size=SIZE).detect(rgb)[0]) == 1


def test_scrfd_fixed_input_shape_wins_over_input_size(tmp_path, decode_values, caplog):
    path = tmp_path / "scrfd.onnx"
    _tiny_scrfd(path, decode_values)
    with caplog.at_level(logging.WARNING):
        det = ScrfdFaceDetector(path, input_size=640)
    assert det.input_size == (SIZE, SIZE) and "fixed input size" in caplog.text
    np.testing.assert_allclose(det.detect(np.zeros((96, 128, 3), np.uint8))[0][0, :4], BOX_A, atol=1e-4)


def test_scrfd_without_keypoints_detects_but_cannot_align(tmp_path, decode_values):
    path = tmp_path / "scrfd_6.onnx"
    _tiny_scrfd(path, decode_values, keypoints=False)
    det = ScrfdFaceDetector(path, input_size=SIZE)
    assert not det.has_keypoints
    rgb = np.zeros((96, 128, 3), np.uint8)
    dets, kps = det.detect(rgb)
    assert kps is None and len(dets) == 2
    with pytest.raises(ValueError, match="no keypoint outputs.*cannot be aligned"):
        det.five_points(rgb, det.locate(rgb)[0])

    from imitation_kedro.models.faces import ArcFaceOnnxEmbedder

    arc = tmp_path / "arcface.onnx"
    tiny_arcface(arc)
    with pytest.raises(ValueError, match="gives no keypoints"):
        ArcFaceOnnxEmbedder(arc, detector=det)


def test_scrfd_missing_model_names_the_path_and_buffalo_l(tmp_path):
    missing = tmp_path / "buffalo_l" / "det_10g.onnx"
    with pytest.raises(FileNotFoundError, match=r"det_10g\.onnx.*buffalo_l"):
        ScrfdFaceDetector(missing)


def test_resize_matches_opencv_inter_linear_convention():
    row = np.array([[[0, 0, 0], [100, 100, 100]]], np.uint8)  # 1 x 2
    up = resize_bilinear(row, 4, 1)
    np.testing.assert_array_equal(up[0, :, 0], [0, 25, 75, 100])  # cv2.resize gives the same
    down = resize_bilinear(np.arange(8, dtype=np.uint8).reshape(1, 8, 1).repeat(3, 2) * 10, 4, 1)
    np.testing.assert_array_equal(down[0, :, 0], [5, 25, 45, 65])  # pixel pairs averaged
    try:
        import cv2
    except ImportError:
        return
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for w, h in ((20, 14), (100, 70), (53, 37)):
        diff = np.abs(resize_bilinear(img, w, h).astype(int) - cv2.resize(img, (w, h)).astype(int))
        assert diff.max() <= 1


def test_letterbox_and_anchor_layout():
    canvas, scale = letterbox(np.full((50, 200, 3), 255, np.uint8), (64, 64))
    assert scale == 16 / 50  # InsightFace: det_scale = new_height / height
    assert canvas[:16].min() == 255 and canvas[16:].max() == 0  # 200x50 -> 64x16, top-left
    centres = anchor_centres(2, 3, 8, 2)
    np.testing.assert_array_equal(centres[:6], [[0, 0], [0, 0], [8, 0], [8, 0], [16, 0], [16, 0]])
    np.testing.assert_array_equal(centres[6], [0, 8])


def _squares(*cells: tuple[int, int], size: int = 128) -> Image.Image:
    """Black image with a white 16x16 square per (row, col) of the 8x8 stride-8 grid (x2 scale)."""
    img = np.zeros((size, size, 3), np.uint8)
    for row, col in cells:
        img[row * 16 : row * 16 + 16, col * 16 : col * 16 + 16] = 255
    return Image.fromarray(img)


def test_arcface_with_scrfd_counts_zero_one_and_several_faces(tmp_path):
    from imitation_kedro.models.faces import ArcFaceOnnxEmbedder

    v = _empty()
    v["bbox"][8][:] = [1.0, 1.0, 1.0, 1.0]
    v["kps"][8][:] = FACE_KPS * 2  # a 16-px face around the anchor centre
    det_path = tmp_path / "scrfd.onnx"
    _tiny_scrfd(det_path, v, image_scores=True, dynamic=True)
    arc = tmp_path / "arcface.onnx"
    tiny_arcface(arc)
    det = ScrfdFaceDetector(det_path, input_size=SIZE)
    emb = ArcFaceOnnxEmbedder(arc, batch_size=2, detector=det)
    assert emb.name.startswith("arcface-") and "-scrfd-" in emb.name and emb.name.endswith("64x64")

    wide = np.zeros((128, 256, 3), np.uint8)
    wide[32:64, 64:96] = 255  # -> cell (1, 2) of the 64 x 32 letterboxed image
    images = {
        "none": _squares(),
        "one": _squares((2, 2)),
        "two": _squares((1, 1), (5, 6)),
        "three": _squares((0, 0), (3, 4), (6, 1)),
        "one_wide": Image.fromarray(wide),  # letterboxed at scale 1/4: one full cell
    }
    prepared = {k: emb.prepare(im) for k, im in images.items()}
    assert {k: p.n_faces for k, p in prepared.items()} == {
        "none": 0, "one": 1, "two": 2, "three": 3, "one_wide": 1,
    }
    # the anchor of cell (2, 2) sits at (16, 16) in the input (scale 1/2), i.e. (32, 32) in the
    # image; eye offsets (-+0.5, -0.4) * 2 * stride 8 = (-+8, -6.4) input px = (-+16, -12.8) image px
    face = det.locate(np.asarray(images["one"]))[0]
    np.testing.assert_allclose(face.kps[:2], [[16.0, 19.2], [48.0, 19.2]], atol=1e-4)
    np.testing.assert_allclose(face.box, [16.0, 16.0, 48.0, 48.0], atol=1e-4)
    out = emb.embed_prepared([prepared["one"], prepared["one_wide"]])
    assert out.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="2 faces"):
        emb.embed_prepared([prepared["two"]])


def _detector_and_arcface(tmp_path, decode_values):
    """A tiny SCRFD graph and a tiny ArcFace graph in ``tmp_path``."""
    det_path = tmp_path / "det.onnx"
    _tiny_scrfd(det_path, decode_values)
    arc = tmp_path / "arcface.onnx"
    tiny_arcface(arc)
    return det_path, arc


def test_factory_and_params_select_the_scrfd_detector(tmp_path, decode_values):
    from imitation_kedro.core.params import ParameterError, parse_params
    from imitation_kedro.models.embedder_factory import build_embedder
    from imitation_kedro.pipelines.similarity.params import EmbedderParams, SimilarityParams

    det_path, arc = _detector_and_arcface(tmp_path, decode_values)
    spec = EmbedderParams(
        kind="arcface_onnx", checkpoint=str(arc),
        detector={"kind": "scrfd", "path": str(det_path), "input_size": 64, "score_threshold": 0.6},
    )
    emb = build_embedder(spec)
    assert isinstance(emb.detector, ScrfdFaceDetector)
    assert emb.detector.score_threshold == 0.6 and "-t0.6-n0.4-64x64" in emb.name

    missing = EmbedderParams(
        kind="arcface_onnx", checkpoint=str(arc), detector={"kind": "scrfd", "path": "nope/det_10g.onnx"}
    )
    with pytest.raises(FileNotFoundError, match=r"nope/det_10g\.onnx.*embedder\.detector\.path.*buffalo_l"):
        build_embedder(missing)

    raw = {"domains": {"faces": {"embedder": {
        "kind": "arcface_onnx", "checkpoint": "x.onnx", "detector": {"kind": "scrfd", "path": "d.onnx", "det_size": 640},
    }}}}
    with pytest.raises(ParameterError, match=r"similarity\.domains\.faces\.embedder\.detector: unknown key\(s\) \['det_size'\]"):
        parse_params(SimilarityParams, raw, "similarity")
    with pytest.raises(ValueError, match="needs `path`"):
        EmbedderParams(kind="arcface_onnx", checkpoint="x.onnx", detector={"kind": "scrfd"})
    with pytest.raises(ValueError, match="only used by embedder kind 'arcface_onnx'"):
        EmbedderParams(kind="csd", checkpoint="x", detector={"kind": "scrfd", "path": "d.onnx"})
    with pytest.raises(ValueError, match="multiple of 32"):
        EmbedderParams(kind="arcface_onnx", checkpoint="x", detector={"kind": "scrfd", "path": "d", "input_size": 100})


def test_frequency_verification_builds_arcface_with_scrfd(tmp_path, decode_values):
    from imitation_kedro.core.params import ParameterError, parse_params
    from imitation_kedro.pipelines.frequency import verification as ver
    from imitation_kedro.pipelines.frequency.params import VerificationParams

    det_path, arc = _detector_and_arcface(tmp_path, decode_values)
    vp = parse_params(
        VerificationParams,
        {"face_model": str(arc), "face_detector": {"kind": "scrfd", "path": str(det_path), "input_size": 64}},
        "frequency.verification",
    )
    emb = ver.face_embedder(vp.face_model, 8, vp.face_detector)
    assert isinstance(emb.detector, ScrfdFaceDetector)
    faces = ver.embed_faces(emb, [Image.fromarray(np.zeros((96, 128, 3), np.uint8))])
    assert faces[0].shape == (2, 16)  # every face of the image (LAION keeps all faces)
    with pytest.raises(ParameterError, match=r"frequency\.verification\.face_detector: unknown key"):
        parse_params(VerificationParams, {"face_detector": {"kind": "scrfd", "paht": "x"}}, "frequency.verification")


_FORKED: dict[str, ScrfdFaceDetector] = {}


def _detect_in_child() -> tuple[int, np.ndarray]:
    import os

    det = _FORKED["det"]
    dets, _ = det.detect(np.zeros((96, 128, 3), np.uint8))
    return int(det._pid == os.getpid()), dets


def test_scrfd_in_a_forked_worker_opens_its_own_session(tmp_path, decode_values):
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    path = tmp_path / "scrfd.onnx"
    _tiny_scrfd(path, decode_values)
    det = ScrfdFaceDetector(path, input_size=SIZE)
    det.detect(np.zeros((96, 128, 3), np.uint8))  # the parent's session has run (thread pools up)
    _FORKED["det"] = det
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            reopened, dets = pool.apply(_detect_in_child)
    finally:
        _FORKED.clear()
    assert reopened == 1
    np.testing.assert_allclose(dets[0, :4], BOX_A, atol=1e-4)
