"""Concepts, corpus, images and ground truth (node level, no torch)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.core.phrase_rule import PhraseMatcher, normalise_phrase, tokenize
from imitation_kedro.pipelines.world import corpus as K
from imitation_kedro.pipelines.world import nodes as N
from imitation_kedro.pipelines.world.params import WorldParams
from imitation_kedro.pipelines.world.render import from_png
from tests.fixtures.world import world_config

LAION_DTYPES = {"SAMPLE_ID": "int64", "HEIGHT": "int64", "WIDTH": "int64", "similarity": "float64"}


@pytest.fixture(scope="module")
def small_params() -> WorldParams:
    raw = copy.deepcopy(world_config("test")[1])
    raw["concepts"].update(n_concepts=16, max_frequency=120)
    raw["corpus"].update(n_rows=1200, rows_per_shard=500, background_image_rows=50)
    return WorldParams(**raw)


def _build(params: WorldParams):
    seed, cp, kp = params.seed, params.concepts, params.corpus
    specs, concepts = N.plan_concepts(seed, cp)
    refs = N.render_reference_images(specs, seed, cp, kp)
    plan = N.plan_corpus(specs, seed, kp)
    captions = N.shard_laion_captions(plan, kp)
    images = N.render_corpus_images(plan, specs, seed, cp, kp)
    truth = N.count_ground_truth(plan, specs)
    return specs, concepts, refs, plan, captions, images, truth


@pytest.fixture(scope="module")
def small_world(small_params):
    return _build(small_params)


def test_concept_catalogue(small_world, small_params):
    specs, concepts, *_ = small_world
    assert list(concepts.columns) == ["concept", "slug", "domain", "aliases"]
    assert concepts["concept"].is_unique and concepts["slug"].is_unique
    assert concepts["concept"].map(normalise_phrase).is_unique
    assert set(concepts["domain"]) == {"style", "motif"}
    assert set(small_params.concepts.special_names) <= set(concepts["concept"])
    for name, aliases in zip(concepts["concept"], concepts["aliases"], strict=True):
        for alias in aliases:  # FIT drops aliases that contain the name
            assert normalise_phrase(name) not in normalise_phrase(alias)
    assert sorted(specs["planted_frequency"]) == small_params.concepts.frequencies()


def test_references_are_held_out_32px_pngs(small_world, small_params):
    _, concepts, refs, _, _, images, _ = small_world
    counts = refs.groupby("concept").size()
    assert set(counts.index) == set(concepts["concept"])
    assert (counts == small_params.concepts.n_references).all()
    assert from_png(refs["png"].iloc[0]).shape == (32, 32, 3)
    corpus_pngs = set(pd.concat(images.values())["png"])
    assert not corpus_pngs & set(refs["png"])


def test_caption_shards_follow_the_laion_schema(small_world, small_params):
    *_, captions, images, _ = small_world[:6] + (None,)
    allc = pd.concat(captions.values(), ignore_index=True)
    assert list(allc.columns) == K.LAION_COLUMNS
    assert len(allc) == small_params.corpus.n_rows and allc["SAMPLE_ID"].is_unique
    for col, dtype in LAION_DTYPES.items():
        assert str(allc[col].dtype) == dtype, col
    assert all(len(p) <= small_params.corpus.rows_per_shard for p in captions.values())
    assert sorted(captions) == [f"part-{i:05d}" for i in range(len(captions))]
    imgs = pd.concat(images.values(), ignore_index=True)
    assert list(imgs.columns) == K.IMAGE_COLUMNS
    assert (imgs["status"] == "success").all() and imgs["key"].str.fullmatch(r"\d{9}").all()
    assert set(imgs["key"].astype(int)) <= set(allc["SAMPLE_ID"])
    by_id = allc.set_index("SAMPLE_ID")
    assert (imgs["url"].to_numpy() == by_id.loc[imgs["key"].astype(int), "URL"].to_numpy()).all()


def test_ground_truth_matches_a_recount_of_the_shards(small_world):
    specs, concepts, _, plan, captions, _, truth = small_world
    allc = pd.concat(captions.values(), ignore_index=True)
    matcher = PhraseMatcher({c: [c, *a] for c, a in zip(concepts["concept"], concepts["aliases"], strict=True)})
    recount = matcher.count(allc["TEXT"])
    assert truth.set_index("concept")["true_caption_count"].to_dict() == recount
    # The planted frequency is exactly what `frequency` must estimate: named rows showing it.
    assert (truth["true_image_count"] == truth["planted_frequency"]).all()
    assert (truth["true_image_count_all"] >= truth["true_image_count"]).all()
    assert (truth["true_caption_count"] >= truth["true_image_count"]).all()


def test_traps_are_present(small_world):
    specs, concepts, _, plan, captions, _, truth = small_world
    allc = pd.concat(captions.values(), ignore_index=True)
    text = allc["TEXT"]
    assert text.isna().any() and (text == "").any()  # empty captions
    assert text.dropna().map(lambda s: not s.isascii() and not tokenize(s)[0].isascii() if tokenize(s) else False).any()
    assert allc["URL"].duplicated().any()  # re-posted rows
    t = truth.set_index("concept")
    # "Ray" is counted in every "Ray Moss" caption too.
    assert t.loc["Ray", "true_caption_count"] >= t.loc["Ray", "planted_frequency"] + t.loc["Ray Moss", "planted_frequency"]
    # Images of a concept whose caption does not name it, captions naming it over other images.
    assert (t["true_image_count_all"] > t["true_image_count"]).any()
    assert (t["true_caption_count"] > t["true_image_count"]).any()
    with_alias = concepts[concepts["aliases"].map(len) > 0]
    alias_only = PhraseMatcher({c: list(a) for c, a in zip(with_alias["concept"], with_alias["aliases"], strict=True)})
    names = PhraseMatcher({c: [c] for c in with_alias["concept"]})
    assert any(alias_only.concepts_in(x) - names.concepts_in(x) for x in text)
    assert text.dropna().str.isupper().any() or text.dropna().str.contains(r"[A-Z]{3,} [A-Z]{2,}").any()


def test_same_seed_same_bytes_other_seed_other_world(small_params):
    a, b = _build(small_params), _build(small_params)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            for k in x:
                pd.testing.assert_frame_equal(x[k], y[k])
        else:
            pd.testing.assert_frame_equal(x, y)
    other = WorldParams(**{**small_params.to_dict(), "seed": small_params.seed + 1})
    specs2, concepts2, *_ = _build(other)[:2]
    assert list(concepts2["concept"]) != list(a[1]["concept"])
    assert not np.array_equal(specs2["planted_frequency"].to_numpy(), a[0]["planted_frequency"].to_numpy()) or list(specs2["spec"]) != list(a[0]["spec"])
