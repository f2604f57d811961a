"""FIT's paper-scale semantics in frequency (issue 17): concept sets with their own constants,
streamed image shards, a device for every verifier, awkward gold references, face units and the
zero-count rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro_datasets.partitions import PartitionedDataset

from imitation_kedro.core.devices import DeviceUnavailableError
from imitation_kedro.datasets.shard_folder import ShardFolder
from imitation_kedro.pipelines.frequency import verification as ver
from imitation_kedro.pipelines.frequency.nodes import (
    calibrate_verification,
    collect_images,
    download_images,
    estimate_concept_frequencies,
    plan_downloads,
    verify_images,
)
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from imitation_kedro.pipelines.frequency.verification import VerificationError, decode
from tests.pipelines.frequency.synthetic import ColourEmbedder, loaders, make_world

ART = {"method": "art", "artwork_threshold": -1.0}  # gate always open: the style rule decides


@pytest.fixture(scope="module")
def world():
    return make_world(n_rows=1200, n_shards=3, freqs=[60, 30, 20, 40, 10, 20, 5, 30])


def _sets(world):
    """Two art sets in one domain: style concepts are 'classical' or 'modern'."""
    concepts = world["raw_concepts"].copy()
    style = concepts["domain"] == "style"
    concepts["concept_set"] = np.where(style, "classical", "motifs")
    concepts.loc[concepts["concept"].isin(["Ray Moss", "Blue Period"]), "concept_set"] = "modern"
    return concepts


def _hits(world, concepts):
    img = pd.concat(world["raw_laion_images"].values(), ignore_index=True)
    return pd.concat(
        [
            pd.DataFrame({"concept": c, "SAMPLE_ID": img["key"].astype(int), "URL": "u", "TEXT": "t"})
            for c in concepts
        ],
        ignore_index=True,
    ), img[["key", "png"]]


def test_each_concept_set_is_verified_with_its_own_constants(world):
    """Modern artists use modern constants, classical ones classical (FIT §3.4): one domain,
    two sets, two thresholds and calibrations. Today's code verified by domain only."""
    concepts = _sets(world)
    params = FrequencyParams(
        verification={
            "domains": {"style": {**ART, "threshold": 0.9}, "motif": {}},
            "sets": {"modern": {**ART, "threshold": 1.5}},
        }
    )
    calib, _ = calibrate_verification(
        concepts, world["raw_reference_images"], ColourEmbedder(), params.verification
    )
    assert sorted(calib["concept_set"]) == ["classical", "modern", "motifs"]
    hits, clean = _hits(world, ["Ray", "Ray Moss"])
    scores, _ = verify_images(
        hits, clean, concepts, world["raw_reference_images"], ColourEmbedder(), calib,
        params.verification,
    )
    by = scores.groupby("concept")
    assert by["concept_set"].first().to_dict() == {"Ray": "classical", "Ray Moss": "modern"}
    # same images, same embedder: only the modern set's constant (1.5) rejects them all
    assert by["verified"].sum()["Ray"] > 0 and by["verified"].sum()["Ray Moss"] == 0
    assert (by["score"].max() > 0.9).all()


def test_images_stream_through_a_partitioned_clean_store(world, tmp_path):
    """collect_images writes clean shards and an index; verify_images reads only the shards and
    keys of the index (a stale shard is ignored) and saves the verified images lazily, one
    partition per clean shard."""
    params = FrequencyParams(acquisition={"min_bytes": 64})
    caps = pd.concat(world["raw_laion_captions"].values(), ignore_index=True)
    keys = pd.concat(world["raw_laion_images"].values())["key"].astype(int)
    hits = caps[caps["SAMPLE_ID"].isin(keys)].head(90).assign(concept="Ray")
    requests = plan_downloads(hits[["concept", "SAMPLE_ID", "URL", "TEXT"]])
    summary = download_images(requests, ShardFolder("unused"), params.acquisition)
    store = ShardFolder(tmp_path)
    images = world["raw_laion_images"]["part-00000"]
    raw = {f"part-{i}": images.iloc[i::3].reset_index(drop=True) for i in range(3)}
    index, rejects = collect_images(requests, loaders(raw), summary, store, params.acquisition)
    assert rejects.empty and len(index) == len(requests) and index["shard"].nunique() == 3
    stale = pd.DataFrame({"key": index["key"].head(2), "png": [b"x", b"y"]})
    stale.to_parquet(tmp_path / "clean-99999.parquet")
    shards = PartitionedDataset(
        path=str(tmp_path), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
    ).load()
    calib, _ = calibrate_verification(
        world["raw_concepts"], world["raw_reference_images"], ColourEmbedder(),
        params.verification,
    )
    scores, verified = verify_images(
        hits, shards, world["raw_concepts"], world["raw_reference_images"], ColourEmbedder(),
        calib, params.verification, index,
    )
    assert len(scores) == len(index) and scores["key"].is_unique
    assert sorted(verified) == sorted(index["shard"].unique())  # no partition for the stale one
    assert all(callable(v) for v in verified.values())  # built one at a time when saved
    got = pd.concat([v() for v in verified.values()], ignore_index=True)
    assert len(got) == scores["verified"].sum() and got["png"].map(len).gt(64).all()
    # same numbers as the whole table in one piece
    whole = pd.concat([shards[n]() for n in sorted(index["shard"].unique())], ignore_index=True)
    one, _ = verify_images(
        hits, whole[whole["key"].isin(index["key"])], world["raw_concepts"],
        world["raw_reference_images"], ColourEmbedder(), calib, params.verification,
    )
    pd.testing.assert_frame_equal(one, scores)


def test_every_verification_model_takes_the_device_setting(world, monkeypatch):
    """verification.device reaches the face recogniser, CSD and the artwork gate; cuda on a
    machine without it is an error naming the parameter. Today: no device setting at all."""
    seen = {}

    def fake_face(path, batch, detector=None, device="cpu"):
        seen["faces"] = (device, batch)
        return TwoFaceEmbedder(single=_ref_pixels(world), decoy=False)

    def fake_csd(path, batch, device="cpu", precision="fp32", name=""):
        seen["csd"] = (device, batch, precision)
        return ColourEmbedder()

    monkeypatch.setattr(ver, "face_embedder", fake_face)
    monkeypatch.setattr(ver.embedder_factory, "csd_embedder", fake_csd)
    vp = FrequencyParams(
        verification={
            "domains": {"style": {**ART, "threshold": 0.5}, "motif": {"method": "faces",
                                                                      "threshold": 0.5}},
            "device": "cpu", "batch_size": 7, "style_model": "csd.safetensors",
            "face_model": "arcface.onnx",
        }
    ).verification
    calibrate_verification(world["raw_concepts"], world["raw_reference_images"], ColourEmbedder(), vp)
    assert seen == {"faces": ("cpu", 7), "csd": ("cpu", 7, "fp16")}
    gate = FrequencyParams(
        verification={"device": "cuda", "clip_model": "ViT-B-32:none"}
    ).verification
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError, match="verification.device"):
            calibrate_verification(
                world["raw_concepts"], world["raw_reference_images"], None, gate
            )


class TwoFaceEmbedder(ColourEmbedder):
    """A face 'detector + recogniser': LAION images hold two faces of their own colour (a group
    photo), references one face, except those listed in ``faces_in``."""

    def __init__(self, single=frozenset(), decoy=False, faces_in=None):
        super().__init__()
        self.single, self.decoy, self.faces_in = single, decoy, faces_in or {}

    def embed_faces(self, images):
        own = self.embed(images)
        out = []
        for im, row in zip(images, own, strict=True):
            b = im.tobytes()
            n = self.faces_in.get(b, 1 if b in self.single else 2)
            out.append(np.repeat(row[None, :], n, axis=0))
        return out


def _ref_pixels(world):
    return frozenset(decode(p).tobytes() for p in world["raw_reference_images"]["png"])


def _faces_params(**extra):
    return FrequencyParams(
        verification={"domains": {"style": {"method": "faces", "threshold": 0.9},
                                  "motif": {"method": "faces", "threshold": 0.9}},
                      "min_references": 2, **extra}
    )


def test_awkward_gold_references_are_counted_rejects(world, monkeypatch):
    """A reference with no face or two faces is a reject; the run fails only when a concept
    keeps fewer than min_references, naming it. Today: ValueError on the first such image."""
    refs = world["raw_reference_images"]
    ray = refs[refs["concept"] == "Ray"].sort_values("ref_index")
    awkward = {decode(ray["png"].iloc[0]).tobytes(): 0, decode(ray["png"].iloc[1]).tobytes(): 2}
    emb = TwoFaceEmbedder(single=_ref_pixels(world), faces_in=awkward)
    monkeypatch.setattr(ver, "face_embedder", lambda *a, **k: emb)
    calib, rejects = calibrate_verification(
        world["raw_concepts"], refs, None, _faces_params().verification
    )
    assert rejects[["concept", "ref_index", "reason"]].values.tolist() == [
        ["Ray", int(ray["ref_index"].iloc[0]), "no face"],
        ["Ray", int(ray["ref_index"].iloc[1]), "2 faces"],
    ]
    assert len(calib) == 2
    n_left = len(ray) - 2
    with pytest.raises(VerificationError, match=rf"'Ray': {n_left}.*rejecting \{{'Ray': 2\}}"):
        calibrate_verification(
            world["raw_concepts"], refs, None,
            _faces_params(min_references=n_left + 1).verification,
        )
    with pytest.raises(VerificationError, match="bad_references: reject"):
        calibrate_verification(
            world["raw_concepts"], refs, None, _faces_params(bad_references="error").verification
        )


def test_face_units_count_matched_faces_and_images_stay_an_option(world, monkeypatch):
    """FIT §3.3: the unit is a matched face (image + box). A group photo with two matching faces
    counts twice; face_unit: images keeps today's count."""
    monkeypatch.setattr(
        ver, "face_embedder", lambda *a, **k: TwoFaceEmbedder(single=_ref_pixels(world))
    )
    concepts = world["raw_concepts"]
    hits, clean = _hits(world, ["Ray"])
    counts = pd.DataFrame({"concept": concepts["concept"], "captions": 1000, "corpus_rows": 10**6})
    out = {}
    for unit in ("faces", "images"):
        vp = _faces_params(face_unit=unit)
        calib, _ = calibrate_verification(concepts, world["raw_reference_images"], None, vp.verification)
        scores, verified = verify_images(
            hits, clean, concepts, world["raw_reference_images"], None, calib, vp.verification
        )
        # every matched face is a reference for similarity (FIT §5.1): one row per face
        assert len(verified) == 2 * scores["verified"].sum()
        assert verified["key"].str.endswith(("_f0", "_f1")).all() and verified["key"].is_unique
        freq = estimate_concept_frequencies(
            concepts, counts, hits, clean, scores, pd.DataFrame(), vp.estimate, vp.verification
        )
        out[unit] = freq.set_index("concept").loc["Ray"]
    ray_ok = scores["verified"].sum()
    assert 0 < ray_ok < len(scores)
    assert out["faces"]["verified_units"] == 2 * ray_ok and out["images"]["verified_units"] == ray_ok
    assert out["faces"]["estimate"] == pytest.approx(2 * out["images"]["estimate"])
    assert out["faces"]["verified"] == out["images"]["verified"] == ray_ok


def test_concept_with_captions_but_no_image_keeps_its_raw_count(world):
    """FIT §3.6: no downloaded image -> the raw count 0 stays in the sequence (status no_images);
    estimate.no_images: nan keeps today's empty estimate."""
    concepts = world["raw_concepts"]
    counts = pd.DataFrame({"concept": concepts["concept"], "captions": 50, "corpus_rows": 10**6})
    hits = pd.DataFrame({"concept": ["Ray"], "SAMPLE_ID": [1], "URL": ["u"], "TEXT": ["t"]})
    empty = pd.DataFrame({"concept": [], "verified": [], "matched_faces": []})
    p = FrequencyParams()
    freq = estimate_concept_frequencies(
        concepts, counts, hits, pd.DataFrame({"key": []}), empty, pd.DataFrame(), p.estimate,
        p.verification,
    ).set_index("concept")
    assert freq.loc["Ray", "status"] == "no_images" and freq.loc["Ray", "estimate"] == 0.0
    assert (freq.loc["Ray", "ci_low"], freq.loc["Ray", "ci_high"]) == (0.0, 50.0)
    nan = FrequencyParams(estimate={"no_images": "nan"})
    old = estimate_concept_frequencies(
        concepts, counts, hits, pd.DataFrame({"key": []}), empty, pd.DataFrame(), nan.estimate,
        nan.verification,
    ).set_index("concept")
    assert np.isnan(old.loc["Ray", "estimate"])


def test_a_group_photos_matching_face_is_cropped():
    import io

    from PIL import Image

    from imitation_kedro.pipelines.frequency.image_store import face_crops

    buf = io.BytesIO()
    Image.new("RGB", (100, 60), (10, 20, 30)).save(buf, format="PNG")
    verified = pd.DataFrame(
        {"concept": ["A", "B"], "key": ["000000001", "000000002"], "png": [buf.getvalue()] * 2,
         "boxes": [[(10, 10, 30, 40), (60, 5, 80, 25)], None]}
    )
    out = face_crops(verified)
    assert out["key"].tolist() == ["000000001_f0", "000000001_f1", "000000002"]
    sizes = [Image.open(io.BytesIO(p)).size for p in out["png"]]
    assert sizes == [(40, 55), (40, 35), (100, 60)]  # box + half its size each side, clipped
