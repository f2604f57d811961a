"""OpenClipEmbedder: normalised float32 rows, any PIL mode, clear errors, no silent NaN."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imitation_kedro.models.embedders import EmbeddingError, ImageEmbedder, OpenClipEmbedder, to_rgb

TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {
        "image_size": 32,
        "patch_size": 8,
        "width": 32,
        "layers": 1,
        "head_width": 16,
        "mlp_ratio": 2.0,
    },
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def embedder():
    import torch

    from imitation_kedro.models.open_clip_bundle import create_bundle

    torch.set_num_threads(1)
    return OpenClipEmbedder(create_bundle("tiny-embedder-test", TINY_CFG, seed=1), batch_size=2)


def _images(n: int, size: tuple[int, int] = (36, 30)) -> list[Image.Image]:
    rng = np.random.default_rng(n)
    return [Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for _ in range(n)]


def test_embeddings_are_normalised_float32_in_input_order(embedder):
    assert isinstance(embedder, ImageEmbedder)
    assert embedder.dim == 16
    images = _images(5)
    emb = embedder.embed(images)
    assert emb.shape == (5, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in emb}) == 5  # different images, different rows
    # batch size and thread-overlapped preprocessing do not change the result
    other = OpenClipEmbedder(embedder.bundle, batch_size=5, num_workers=2)
    np.testing.assert_allclose(other.embed(images), emb, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(images[::-1]), emb[::-1], atol=1e-5)
    # the embedder adds nothing to the bare forward on pre-decoded tensors
    np.testing.assert_allclose(embedder.embed_tensor(embedder.preprocess(images)), emb, atol=1e-5)


def test_split_preprocess_equals_open_clip_eval_transform(embedder):
    # the similarity pipeline's split: uint8 resize/crop in the decode workers, ToTensor scaling
    # and Normalize batched on the model's device; the batch equals open_clip's own preprocess
    import torch

    from imitation_kedro.models.embedder_factory import PreparedOpenClip
    from imitation_kedro.models.embedders import PixelPipeline

    prepared = PreparedOpenClip(embedder, "tiny")
    assert isinstance(prepared.pixels, PixelPipeline)
    images = _images(4, (45, 70)) + [Image.new("RGBA", (40, 40), (10, 200, 30, 128))]
    arrays = [prepared.prepare(im) for im in images]
    assert all(a.dtype == np.uint8 and a.shape == (32, 32, 3) for a in arrays)
    batch = prepared.to_batch(arrays)
    assert torch.equal(batch, embedder.preprocess(images))
    np.testing.assert_allclose(prepared.embed_prepared(arrays), embedder.embed(images), atol=1e-6)
    # a transform of another shape (no trailing ToTensor + Normalize) is not split
    assert PixelPipeline.from_transform(lambda im: im) is None


def test_text_embeddings(embedder):
    emb = embedder.embed_text(["a red square", "Gérard's café", "a red square"])
    assert emb.shape == (3, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb[0], emb[2], atol=1e-6)
    assert not np.allclose(emb[0], emb[1])
    with pytest.raises(EmbeddingError, match="empty list of texts"):
        embedder.embed_text([])


def test_modes_are_converted_explicitly(embedder):
    gray = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    as_l = Image.fromarray(gray)
    as_i16 = Image.fromarray(gray.astype(np.uint16) * 257)
    as_f = Image.fromarray(gray.astype(np.float32) / 255.0)
    assert as_i16.mode == "I;16"
    np.testing.assert_array_equal(
        np.asarray(to_rgb(as_i16)), np.asarray(to_rgb(as_l))
    )  # scaled, not clipped
    np.testing.assert_array_equal(np.asarray(to_rgb(as_f)), np.asarray(to_rgb(as_l)))
    transparent = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert to_rgb(transparent).getpixel((0, 0)) == (255, 255, 255)  # composited on white
    half = Image.new("LA", (8, 8), (0, 128))
    assert to_rgb(half).getpixel((0, 0)) == (127, 127, 127)
    palette = Image.new("P", (8, 8))
    palette.info["transparency"] = 0
    assert to_rgb(palette).getpixel((0, 0)) == (255, 255, 255)

    modes = [
        as_l,
        as_i16,
        as_f,
        transparent,
        half,
        palette,
        Image.new("CMYK", (20, 20)),
        Image.new("1", (9, 9)),
    ]
    emb = embedder.embed(modes)
    assert emb.shape == (len(modes), 16) and np.isfinite(emb).all()
    np.testing.assert_allclose(emb[0], emb[1], atol=1e-5)
    np.testing.assert_allclose(
        emb[3], embedder.embed([Image.new("RGB", (32, 32), "white")])[0], atol=1e-5
    )


def test_bad_inputs_raise_clearly(embedder):
    with pytest.raises(EmbeddingError, match="empty list of images"):
        embedder.embed([])
    with pytest.raises(EmbeddingError, match="image 2 is a ndarray, not a PIL image"):
        embedder.embed([*_images(2), np.zeros((4, 4, 3))])
    with pytest.raises(EmbeddingError, match="image 1 is empty"):
        embedder.embed([*_images(1), Image.new("RGB", (0, 5))])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        OpenClipEmbedder(embedder.bundle, batch_size=0)


def test_nan_embeddings_name_the_image(embedder, monkeypatch):
    import torch

    model = embedder.model
    original = model.encode_image

    def poisoned(x, normalize=False):
        out = original(x, normalize=normalize)
        if len(out) == 2 and poisoned.calls == 1:  # second batch: images 2 and 3
            out = out.clone()
            out[1] = torch.nan
        poisoned.calls += 1
        return out

    poisoned.calls = 0
    monkeypatch.setattr(model, "encode_image", poisoned)
    with pytest.raises(EmbeddingError, match="image 3 got a NaN/inf embedding"):
        embedder.embed(_images(5))
