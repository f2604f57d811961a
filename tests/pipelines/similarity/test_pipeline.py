"""The similarity pipeline on an in-memory catalog (SequentialRunner) and its node contracts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from imitation_kedro.pipelines.similarity import create_pipeline
from imitation_kedro.pipelines.similarity.nodes import (
    embed_similarity_images,
    plan_similarity_items,
    score_imitation,
)

from .conftest import ColourEmbedder, make_params

CONTRACT = ["concept", "concept_set", "domain", "model", "prompt_id", "score", "score_var", "n_generated",
            "n_used", "n_refs", "ref_source", "zero_face_rate"]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediates."""

    def _release(self) -> None:
        pass


class LazySaveDataset(KeptDataset):
    """Evaluates lazy partitions on save, as ``partitions.PartitionedDataset`` does."""

    def save(self, data) -> None:
        super().save({k: v() if callable(v) else v for k, v in data.items()})


def run_pipeline(world, bundle, params, prior=None):
    catalog = DataCatalog()
    for name, value in world.items():
        catalog[name] = value
    catalog["mdl_miniature_clip"] = MemoryDataset(bundle, copy_mode="assign")
    catalog["int_similarity_embedding_cache_prior"] = prior or {}
    catalog["params:similarity"] = params
    catalog["params:similarity.grids"] = params.grids
    outputs = ["prm_imitation_scores", "prm_concept_imitation_scores", "int_similarity_rejects",
               "int_similarity_embedding_cache", "rpt_similarity_grids", "int_similarity_selected_refs",
               "int_similarity_image_scores"]
    for name in outputs:
        catalog[name] = KeptDataset(copy_mode="assign")
    catalog["int_similarity_embedding_cache"] = LazySaveDataset(copy_mode="assign")
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog[name].load() for name in outputs}


def _paper_estimator(refs: np.ndarray, gens: np.ndarray, k: int) -> float:
    """FIT reference 5.1 written independently: argsort(S.mean(1))[::-1][:k], mean of S[top]."""
    sim = refs @ gens.T
    top = np.argsort(sim.mean(axis=1))[::-1][:k]
    return float(sim[top].mean())


def test_scores_follow_the_contract_and_the_paper_estimator(world, params):
    emb = ColourEmbedder()
    out = run_pipeline(world, emb, params)
    scores = out["prm_imitation_scores"]
    assert list(scores.columns) == CONTRACT
    assert len(scores) == 3 * 2  # 3 concepts with generations x 2 prompts
    assert scores["score"].notna().all()
    assert (scores["n_generated"] == 4).all() and (scores["n_used"] == 4).all()
    assert (scores["n_refs"] == 4).all()  # top_k_refs = 4
    sources = scores.groupby("concept")["ref_source"].first().to_dict()
    # 12 verified >= min_laion_refs 11 -> laion; 3 < 11 / 3 < 10 -> curated
    assert sources == {"Ochre Dawn": "laion", "Blue Hour": "curated", "Spiral Motif": "curated"}

    # recompute one prompt's score from scratch
    row = scores[(scores["concept"] == "Blue Hour") & (scores["prompt_id"] == 1)].iloc[0]
    refs = world["raw_reference_images"]
    ref_imgs = [Image.open(__import__("io").BytesIO(b)) for b in refs[refs["concept"] == "Blue Hour"]["png"]]
    gen_ids = [f"mini/blue-hour/1/{i:04d}" for i in range(4)]
    gen_imgs = [world["int_generated_images"][g]() for g in gen_ids]
    expected = _paper_estimator(ColourEmbedder().embed(ref_imgs), ColourEmbedder().embed(gen_imgs), 4)
    assert row["score"] == pytest.approx(expected, abs=1e-6)


def test_frequent_concepts_score_higher_and_skips_are_listed(world, params):
    out = run_pipeline(world, ColourEmbedder(), params)
    concept_scores = out["prm_concept_imitation_scores"].set_index("concept")["score"]
    # generation noise 10 < 60 < 120: better imitation -> higher score
    assert concept_scores["Ochre Dawn"] > concept_scores["Blue Hour"] > concept_scores["Spiral Motif"]
    rejects = out["int_similarity_rejects"]
    skipped = rejects[rejects["level"] == "concept"]
    assert skipped["concept"].tolist() == ["Unseen Motif"]
    assert "no generated images" in skipped["reason"].iloc[0]
    grids = out["rpt_similarity_grids"]
    assert len(grids) == 2 and all(k.endswith(".png") for k in grids)
    assert {"ochre-dawn.png", "spiral-motif.png"} == set(grids)  # lowest and highest score


def test_cache_reuse_skips_embedding_and_gives_identical_scores(world, params):
    first_emb = ColourEmbedder()
    first = run_pipeline(world, first_emb, params)
    cache = first["int_similarity_embedding_cache"]
    assert len(cache) == 2  # one partition per domain (style, motif), same embedder folder
    assert all(pid.startswith("colour-test/") for pid in cache)
    assert first_emb.images == sum(len(f) for f in cache.values()) > 0
    second_emb = ColourEmbedder()
    second = run_pipeline(world, second_emb, params, prior=cache)
    assert second_emb.images == 0  # everything came from the cache
    assert second["int_similarity_embedding_cache"] == {}  # nothing new to write
    pd.testing.assert_frame_equal(first["prm_imitation_scores"], second["prm_imitation_scores"])


def test_cache_with_another_dimension_is_an_error_naming_both(world, params):
    first = run_pipeline(world, ColourEmbedder(), params)
    cache = first["int_similarity_embedding_cache"]

    class Wider(ColourEmbedder):
        dim = 5

        def embed(self, images):
            base = super().embed(images)
            return np.hstack([base, np.zeros((len(images), 1), np.float32)])

    items, plan_rejects = plan_similarity_items(
        world["int_generation_manifest"], world["int_generated_images"], world["raw_concepts"],
        world["raw_reference_images"], world["int_verified_images"], params,
    )
    with pytest.raises(ValueError, match=r"4-d vectors for embedder 'colour-test'.*gives 5-d"):
        embed_similarity_images(items, world["int_generated_images"], world["raw_reference_images"],
                                world["int_verified_images"], Wider(), cache, params)


def test_corrupt_and_odd_mode_generations_are_counted_not_scored(world, params):
    images = dict(world["int_generated_images"])
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (200, 140, 40), 255
    images["mini/ochre-dawn/0/0000"] = lambda: Image.fromarray(rgba, "RGBA")
    images["mini/ochre-dawn/0/0001"] = lambda: Image.open(__import__("io").BytesIO(b"not a png"))
    images["mini/ochre-dawn/0/0002"] = lambda: b""
    sixteen = Image.fromarray(np.full((32, 32), 40000, np.uint16))  # mode I;16
    images["mini/ochre-dawn/0/0003"] = lambda: sixteen
    out = run_pipeline({**world, "int_generated_images": images}, ColourEmbedder(), params)
    rejects = out["int_similarity_rejects"]
    img_rej = rejects[rejects["level"] == "image"].set_index("image_id")["reason"]
    assert "corrupt image" in img_rej["gen:mini/ochre-dawn/0/0001"]
    assert "empty image file" in img_rej["gen:mini/ochre-dawn/0/0002"]
    assert "gen:mini/ochre-dawn/0/0000" not in img_rej  # RGBA converted, not rejected
    row = out["prm_imitation_scores"].query("concept == 'Ochre Dawn' and prompt_id == 0").iloc[0]
    assert (row["n_generated"], row["n_used"]) == (4, 2)
    assert np.isfinite(row["score"])

    strict = make_params(convert_modes=False)
    out = run_pipeline({**world, "int_generated_images": images}, ColourEmbedder(), strict)
    img_rej = out["int_similarity_rejects"].set_index("image_id")["reason"]
    assert "mode RGBA" in img_rej["gen:mini/ochre-dawn/0/0000"]
    assert "mode I;16" in img_rej["gen:mini/ochre-dawn/0/0003"]


def test_nan_embeddings_become_rejects_never_scores(world, params):
    class Broken(ColourEmbedder):
        def embed(self, images):
            out = super().embed(images)
            out[0] = np.nan
            return out

    items, plan_rejects = plan_similarity_items(
        world["int_generation_manifest"], world["int_generated_images"], world["raw_concepts"],
        world["raw_reference_images"], world["int_verified_images"], params,
    )
    partitions, runs = embed_similarity_images(
        items, world["int_generated_images"], world["raw_reference_images"],
        world["int_verified_images"], Broken(), {}, params,
    )
    assert set(runs["partition"]) == set(partitions)
    cache = {pid: make() for pid, make in partitions.items()}  # what the dataset saves
    scores, _, _, rejects = score_imitation(items, cache, runs, {}, plan_rejects, params)
    nan_rejects = rejects[rejects["reason"].str.contains("non-finite embedding")]
    assert len(nan_rejects) > 0 and (nan_rejects["level"] == "image").all()
    assert scores["score"].notna().all()
    rows = pd.concat(cache.values())
    assert (rows["reason"] != "").sum() == nan_rejects["image_id"].nunique()  # recorded, not reused
    # a rerun with the fixed model retries exactly the failed images
    fixed = ColourEmbedder()
    partitions2, _ = embed_similarity_images(
        items, world["int_generated_images"], world["raw_reference_images"],
        world["int_verified_images"], fixed, cache, params,
    )
    for make in partitions2.values():
        make()
    assert fixed.images == nan_rejects["image_id"].nunique()


def test_all_generations_unusable_uses_documented_empty_score(world):
    images = {k: (lambda: b"") for k in world["int_generated_images"]}
    w = {**world, "int_generated_images": images}
    out = run_pipeline(w, ColourEmbedder(), make_params(empty_score=0.0))
    scores = out["prm_imitation_scores"]
    assert (scores["score"] == 0.0).all() and (scores["n_used"] == 0).all()
    prompt_rej = out["int_similarity_rejects"].query("level == 'prompt'")
    assert len(prompt_rej) == 6 and prompt_rej["reason"].str.contains("empty_score=0.0").all()

    out = run_pipeline(w, ColourEmbedder(), make_params(empty_score=None))
    assert out["prm_imitation_scores"].empty
    assert out["int_similarity_rejects"]["reason"].str.contains("left out").sum() == 6


def test_tiny_open_clip_bundle_runs_end_to_end(world, params, tiny_clip_bundle):
    out = run_pipeline(world, tiny_clip_bundle, params)
    scores = out["prm_imitation_scores"]
    assert len(scores) == 6 and scores["score"].between(-1, 1).all()
    assert all(p.startswith("miniature-clip-") for p in out["int_similarity_embedding_cache"])
    again = run_pipeline(world, tiny_clip_bundle, params)
    pd.testing.assert_frame_equal(scores, again["prm_imitation_scores"])  # deterministic


def test_concepts_without_references_are_skipped_and_listed(world):
    refs = world["raw_reference_images"]
    w = {**world, "raw_reference_images": refs[refs["concept"] != "Blue Hour"]}
    out = run_pipeline(w, ColourEmbedder(), make_params())
    skipped = out["int_similarity_rejects"].query("level == 'concept'").set_index("concept")["reason"]
    assert "too few references: 0 curated" in skipped["Blue Hour"]
    assert "Blue Hour" not in set(out["prm_imitation_scores"]["concept"])

    style = {"embedder": {"kind": "miniature_clip"}, "min_refs": 50}
    out = run_pipeline(world, ColourEmbedder(), make_params(domains={"style": style, "motif": style}))
    assert out["prm_imitation_scores"].empty and out["rpt_similarity_grids"] == {}
    assert list(out["prm_imitation_scores"].columns) == CONTRACT
    assert len(out["int_similarity_rejects"].query("level == 'concept'")) == 4
