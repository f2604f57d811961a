"""Parameters, decoding, reference choice and the estimator, function by function."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from imitation_kedro.core.params import ParameterError, parse_params
from imitation_kedro.pipelines.similarity.decoding import decode_image, iter_decoded_batches
from imitation_kedro.pipelines.similarity.embedding_cache import (
    CacheMismatchError,
    load_cache,
    new_cache_partition,
)
from imitation_kedro.pipelines.similarity.params import SimilarityParams
from imitation_kedro.pipelines.similarity.references import plan_items
from imitation_kedro.pipelines.similarity.scoring import aggregate_prompts, prompt_score

from .conftest import make_params

CONF = Path(__file__).resolve().parents[3] / "conf"


@pytest.mark.parametrize("env", ["base", "test", "paper"])
def test_every_env_parses(env):
    raw = yaml.safe_load((CONF / env / "parameters_similarity.yml").read_text())["similarity"]
    params = parse_params(SimilarityParams, raw, "similarity")
    assert params.top_k_refs == 10
    if env == "paper":
        assert params.domains["faces"].min_laion_refs == 10  # faces >= 10
        assert params.domains["art"].min_laion_refs == 11  # art > 10
        assert params.domains["art"].embedder.kind == "csd"
        assert params.domains["faces"].embedder.is_face


def test_bad_parameters_name_the_key():
    with pytest.raises(ParameterError, match="kind"):
        make_params(domains={"style": {"embedder": {"kind": "resnet"}}})
    with pytest.raises(ParameterError, match="needs `checkpoint`"):
        make_params(domains={"art": {"embedder": {"kind": "csd"}}})
    with pytest.raises(ParameterError, match="shard_index"):
        make_params(shard_index=2, num_shards=2)
    with pytest.raises(ParameterError, match="domain 'faces' of concept 'X'"):
        make_params().domain("faces", "X")


def _png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


def test_decode_modes_and_failures():
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent -> white, not black
    img, reason, mode = decode_image(_png(rgba), convert=True)
    assert (mode, reason) == ("RGBA", "") and np.asarray(img).min() == 255
    sixteen = np.full((4, 4), 65535, np.uint16)
    img, _, mode = decode_image(Image.fromarray(sixteen), convert=True)
    assert mode.startswith("I;16") and np.asarray(img).max() == 255
    img, _, _ = decode_image(Image.fromarray(np.full((4, 4), 257 * 100, np.uint16)), convert=True)
    assert np.asarray(img)[0, 0, 0] == 100  # scaled, not clipped
    grey, _, mode = decode_image(_png(np.full((4, 4), 7, np.uint8)), convert=True)
    assert mode == "L" and grey.mode == "RGB"
    assert decode_image(b"", True)[1] == "empty image file (0 bytes)"
    assert decode_image(b"\x89PNG garbage", True)[1].startswith("corrupt image")
    assert "too small" in decode_image(_png(np.zeros((1, 5, 3), np.uint8)), True)[1]
    assert "convert_modes is false" in decode_image(_png(rgba), convert=False)[1]

    def boom():
        raise OSError("disk gone")

    assert "disk gone" in decode_image(boom, True)[1]


def _first_red(im):
    return im.getpixel((0, 0))[0]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_prefetched_batches_keep_order(backend):
    sources = [Image.new("RGB", (3, 3), (i, 0, 0)) for i in range(23)]
    sources[7] = b""  # a reject keeps its place, with its reason, in both back-ends
    seen = []
    for start, batch in iter_decoded_batches(sources, 5, workers=2, prefetch=2,
                                             prepare=_first_red, backend=backend):
        assert start == len(seen)
        seen += [d.reason or d.value for d in batch]
    assert seen == [*range(7), "empty image file (0 bytes)", *range(8, 23)]


def test_generated_images_are_read_as_bytes_and_decode_the_same(tmp_path):
    # a pillow.ImageDataset partition is read as raw bytes (decoded once, in a worker, no copy)
    from kedro_datasets.partitions import PartitionedDataset

    from imitation_kedro.pipelines.similarity.references import file_bytes_loader, generated_source

    arr = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    PartitionedDataset(path=str(tmp_path), dataset="pillow.ImageDataset",
                       filename_suffix=".png").save({"m/c/0/0": Image.fromarray(arr)})
    loaders = PartitionedDataset(path=str(tmp_path), dataset="pillow.ImageDataset",
                                 filename_suffix=".png").load()
    source = generated_source(loaders, "gen:m/c/0/0")
    data = source()
    assert isinstance(data, bytes) and data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(np.asarray(decode_image(source, True)[0]), arr)
    np.testing.assert_array_equal(np.asarray(decode_image(loaders["m/c/0/0"], True)[0]), arr)
    other = lambda: b"x"  # noqa: E731 - anything else is passed through
    assert file_bytes_loader(other) is other


def test_estimator_top_k_and_ties():
    refs = np.eye(3, dtype=np.float32)  # three orthogonal refs
    gens = np.array([[1, 0, 0], [0.6, 0.8, 0]], np.float32)
    chosen, means, per_image = prompt_score(refs, gens, ["a", "b", "c"], 2)
    assert chosen.tolist() == [0, 1]  # means 0.8, 0.4, 0
    np.testing.assert_allclose(means, [0.8, 0.4])
    np.testing.assert_allclose(per_image, [0.5, 0.7])
    tie, _, _ = prompt_score(refs[[1, 0]], np.array([[0.6, 0.6, 0]], np.float32), ["z", "y"], 1)
    assert tie.tolist() == [1]  # equal means -> smaller image id ("y") first
    with pytest.raises(ValueError, match="non-finite"):
        prompt_score(refs, np.full((1, 3), np.nan, np.float32), ["a", "b", "c"], 2)


def test_concept_mean_over_prompts():
    scores = pd.DataFrame({"concept": ["a", "a", "b"], "domain": "style", "model": "m",
                           "prompt_id": [0, 1, 0], "score": [0.2, 0.4, 0.9], "score_var": 0.0,
                           "n_generated": 4, "n_used": [4, 3, 4], "n_refs": 10, "ref_source": "curated",
                           "zero_face_rate": np.nan})
    agg = aggregate_prompts(scores).set_index("concept")
    assert agg.loc["a", "score"] == pytest.approx(0.3)
    assert agg.loc["a", "score_var_prompts"] == pytest.approx(0.02)
    assert (agg.loc["a", "n_prompts"], agg.loc["a", "n_used"]) == (2, 7)
    assert agg.loc["b", "score_var_prompts"] == 0.0


def _plan(world, params):
    return plan_items(world["int_generation_manifest"], list(world["int_generated_images"]),
                      world["raw_concepts"], world["raw_reference_images"],
                      world["int_verified_images"], params)


def test_min_laion_refs_is_inclusive_and_min_refs_skips(world):
    # Ochre Dawn has exactly 12 verified images
    def source(params):
        items, _ = _plan(world, params)
        return items[(items["concept"] == "Ochre Dawn") & (items["role"] == "reference")]["ref_source"].unique().tolist()

    style = {"embedder": {"kind": "miniature_clip"}, "min_refs": 3}
    motif = {"embedder": {"kind": "miniature_clip"}, "min_refs": 3}
    assert source(make_params(domains={"style": {**style, "min_laion_refs": 12}, "motif": motif})) == ["laion"]
    assert source(make_params(domains={"style": {**style, "min_laion_refs": 13}, "motif": motif})) == ["curated"]
    items, rejects = _plan(world, make_params(domains={"style": {**style, "min_laion_refs": 13, "min_refs": 7},
                                                       "motif": motif}))
    skipped = rejects[rejects["level"] == "concept"].set_index("concept")["reason"]
    assert "too few references: 6 curated < min_refs 7" in skipped["Ochre Dawn"]
    assert "Ochre Dawn" not in set(items["concept"])


def test_shards_partition_the_concepts(world):
    concepts = set()
    for shard in range(3):
        items, _ = _plan(world, make_params(shard_index=shard, num_shards=3))
        mine = set(items["concept"])
        assert not mine & concepts
        concepts |= mine
    assert concepts == set(_plan(world, make_params())[0]["concept"])


def test_plan_errors_name_the_dataset_and_column(world):
    manifest = world["int_generation_manifest"].drop(columns=["prompt_id"])
    with pytest.raises(ValueError, match=r"int_generation_manifest lacks column\(s\) \['prompt_id'\]"):
        plan_items(manifest, [], world["raw_concepts"], world["raw_reference_images"],
                   world["int_verified_images"], make_params())
    concepts = world["raw_concepts"].assign(domain="faces")
    with pytest.raises(ParameterError, match="domain 'faces' of concept"):
        plan_items(world["int_generation_manifest"], [], concepts, world["raw_reference_images"],
                   world["int_verified_images"], make_params())


def test_generated_images_missing_from_the_folder_are_rejects(world):
    ids = [k for k in world["int_generated_images"] if not k.endswith("/0/0003")]
    items, rejects = plan_items(world["int_generation_manifest"], ids, world["raw_concepts"],
                                world["raw_reference_images"], world["int_verified_images"], make_params())
    missing = rejects[rejects["reason"].str.contains("missing from int_generated_images")]
    assert len(missing) == 3 and (missing["level"] == "image").all()


def test_cache_roundtrip_and_mismatch():
    vec = np.arange(4, dtype=np.float32)
    part = new_cache_partition("emb", 4, {"k1": (1, vec), "k2": (0, None)}, {"k3": "corrupt image"})
    (pid, frame), = part.items()
    assert pid.startswith("emb/") and len(frame) == 3
    cached, failed = load_cache(part, "emb", 4)
    np.testing.assert_array_equal(cached["k1"][1], vec)
    assert cached["k2"] == (0, None)
    assert failed == {"k3": "corrupt image"} and "k3" not in cached
    assert load_cache(part, "other", 8) == ({}, {})
    with pytest.raises(CacheMismatchError, match=r"4-d vectors for embedder 'emb'.*gives 8-d"):
        load_cache(part, "emb", 8)
    assert new_cache_partition("emb", 4, {}) == {}
    # the partition id depends only on the keys: a rerun of the same chunk rewrites the same file
    swapped = new_cache_partition("emb", 4, {"k3": (1, vec), "k2": (0, None), "k1": (1, vec)})
    same = new_cache_partition("emb", 4, {"k1": (1, vec), "k2": (0, None), "k3": (1, vec)})
    assert list(swapped) == list(same) == [pid]
