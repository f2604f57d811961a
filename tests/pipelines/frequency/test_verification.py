"""Calibration rules, verification decisions and the Wilson-interval estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imitation_kedro.pipelines.frequency import calibration as cal
from imitation_kedro.pipelines.frequency.estimate import (
    estimate_frequencies,
    scale_to_laion5b,
    wilson_interval,
)
from imitation_kedro.pipelines.frequency.nodes import calibrate_verification, verify_images
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from imitation_kedro.pipelines.frequency.verification import VerificationError, decode, max_cosine
from tests.pipelines.frequency.synthetic import ColourEmbedder, colour_of, make_world


def _unit(*rows):
    a = np.asarray(rows, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_mean_pair_rule_matches_fit_formula():
    refs = {"a": _unit([1, 0], [1, 0.2]), "b": _unit([0, 1], [0.3, 1])}
    pos, neg = cal.pair_scores(refs, "mean_pair")
    ea, eb = refs["a"], refs["b"]
    assert pos.tolist() == pytest.approx([(ea @ ea.T).mean(), (eb @ eb.T).mean()])
    assert neg.tolist() == pytest.approx([(ea @ eb.T).mean()])
    row = cal.calibrate_domain("style", refs, "mean_pair")
    assert row["lower"] == pytest.approx((pos.min() + neg.max()) / 2)
    assert row["tpr_lower"] == 1.0 and row["fpr_lower"] == 0.0


def test_f1_like_threshold_picks_the_best_roc_point():
    pos = np.asarray([0.9, 0.8, 0.7, 0.4])
    neg = np.asarray([0.5, 0.3, 0.2, 0.1])
    # t=0.7: TPR .75, FPR 0 -> .857; t=0.4: TPR 1, FPR .25 -> .857 (first maximum = higher t)
    assert cal.f1_like_threshold(pos, neg) == pytest.approx(0.7)
    assert cal.f1_like_threshold(np.asarray([0.9, 0.8]), np.asarray([0.1])) == pytest.approx(0.8)


def test_loo_max_needs_two_references_per_concept():
    with pytest.raises(cal.CalibrationError, match="concept 'b' has 1 reference"):
        cal.pair_scores({"a": _unit([1, 0], [1, 0.1]), "b": _unit([0, 1])}, "loo_max")
    with pytest.raises(cal.CalibrationError, match=">= 2 concepts"):
        cal.calibrate_domain("style", {"a": _unit([1, 0], [1, 0.1])}, "loo_max")


def test_max_cosine_and_strict_threshold():
    imgs = _unit([1, 0], [0, 1])
    refs = _unit([1, 0], [0.6, 0.8])
    assert max_cosine(imgs, refs).tolist() == pytest.approx([1.0, 0.8])


@pytest.fixture(scope="module")
def world():
    return make_world(n_rows=1500, n_shards=2, freqs=[60, 30, 20, 40, 10, 20, 5, 30])


def test_verification_counts_traps_out(world):
    params = FrequencyParams()
    calib, ref_rejects = calibrate_verification(
        world["raw_concepts"], world["raw_reference_images"], ColourEmbedder(), params.verification
    )
    assert set(calib["domain"]) == {"style", "motif"} and ref_rejects.empty
    assert calib["concept_set"].tolist() == calib["domain"].tolist()  # no sets: set = domain
    assert (calib["lower"] > calib["max_negative"] - 1).all() and (calib["tpr_lower"] > 0.9).all()
    caps = world["captions_frame"]
    img = world["raw_laion_images"]["part-00000"]
    hits = caps[caps["SAMPLE_ID"].map(lambda s: f"{s:09d}").isin(img["key"])].head(120)
    hits = hits.assign(concept="Ray")[["concept", "SAMPLE_ID", "URL", "TEXT"]]
    clean = img[["key", "png"]]
    scores, verified = verify_images(
        hits,
        clean,
        world["raw_concepts"],
        world["raw_reference_images"],
        ColourEmbedder(),
        calib,
        params.verification,
    )
    assert len(scores) == len(hits)
    # exactly the images that show Ray's colour are verified
    centre = _unit(colour_of(0) - 128.0)[0]
    emb = ColourEmbedder().embed([decode(p) for p in clean["png"]]) @ centre
    ray_keys = set(clean["key"][emb > 0.95])
    assert set(verified["key"]) == ray_keys & set(scores["key"])
    assert 0 < len(verified) < len(scores)
    assert verified["png"].notna().all()


def test_concept_without_references_is_named(world):
    refs = world["raw_reference_images"]
    refs = refs[refs["concept"] != "Kite"]
    with pytest.raises(VerificationError, match="'Kite': 0"):
        calibrate_verification(
            world["raw_concepts"], refs, ColourEmbedder(), FrequencyParams().verification
        )


def test_unknown_domain_is_named(world):
    concepts = world["raw_concepts"].assign(domain=lambda d: d["domain"].replace("motif", "faces"))
    with pytest.raises(VerificationError, match=r"\['faces'\]"):
        calibrate_verification(
            concepts,
            world["raw_reference_images"],
            ColourEmbedder(),
            FrequencyParams().verification,
        )


def test_wilson_interval_known_value():
    lo, hi = wilson_interval(np.asarray([8]), np.asarray([10]), 0.95)
    assert (lo[0], hi[0]) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_estimate_scales_and_flags_missing_images():
    table = pd.DataFrame(
        {
            "concept": ["a", "b", "c"],
            "domain": "style",
            "captions": [1000, 5, 0],
            "sampled": [100, 5, 0],
            "downloaded": [80, 0, 0],
            "verified": [40, 0, 0],
        }
    )
    table["concept_set"] = "style"
    out = estimate_frequencies(table, 0.95, no_images="nan")
    a = out.iloc[0]
    assert a["estimate"] == pytest.approx(500.0)
    lo, hi = wilson_interval(np.asarray([40]), np.asarray([80]), 0.95)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((lo[0] * 1000, hi[0] * 1000))
    assert np.isnan(out.iloc[1]["estimate"]) and out.iloc[1]["status"] == "no_images"
    assert (out.iloc[1]["ci_low"], out.iloc[1]["ci_high"]) == (0.0, 5.0)
    assert out.iloc[2][["estimate", "ci_low", "ci_high"]].tolist() == [0.0, 0.0, 0.0]
    scaled = scale_to_laion5b(out, pd.Series({"a": 3000, "b": 9, "c": 4}))
    assert scaled.iloc[0]["estimate"] == pytest.approx(1500.0)
    assert (scaled.iloc[0]["ci_low"], scaled.iloc[0]["ci_high"]) == pytest.approx(
        (lo[0] * 3000, hi[0] * 3000)
    )
    assert np.isnan(scaled.iloc[1]["estimate"])  # no image: still unknown, CI [0, captions_5b]
    assert (scaled.iloc[1]["ci_low"], scaled.iloc[1]["ci_high"]) == (0.0, 9.0)
    assert scaled.iloc[2][["estimate", "ci_low", "ci_high"]].tolist() == [0.0, 0.0, 0.0]
    assert scaled["captions_5b"].tolist() == [3000, 9, 4]
    assert (scaled["corpus"] == "laion5b").all() and (out["corpus"] == "laion2b_en").all()
    assert out["captions_5b"].isna().all() and list(scaled.columns) == list(out.columns)
    with pytest.raises(ValueError, match="no LAION-5B caption count"):
        scale_to_laion5b(out, pd.Series({"a": 3000}))
    with pytest.raises(ValueError, match="verified <= downloaded"):
        estimate_frequencies(table.assign(verified=[90, 0, 0]), 0.95)


class TwoFaceEmbedder(ColourEmbedder):
    """Each LAION image 'contains' two faces: its own colour and a fixed grey-blue decoy;
    reference images (``single``: their pixel bytes) one face."""

    def __init__(self, single=frozenset()):
        super().__init__()
        self.single = single

    def embed_faces(self, images):
        own = self.embed(images)
        decoy = _unit([-1.0, -1.0, 1.0]).astype(np.float32)
        return [
            row[None, :] if im.tobytes() in self.single else np.vstack([decoy, row[None, :]])
            for im, row in zip(images, own, strict=True)
        ]


def _ref_pixels(refs):
    return frozenset(decode(p).tobytes() for p in refs["png"])


def test_faces_method_counts_an_image_when_any_face_matches(world, monkeypatch):
    from imitation_kedro.pipelines.frequency import verification as ver

    single = _ref_pixels(world["raw_reference_images"])
    monkeypatch.setattr(
        ver, "face_embedder", lambda path, batch, detector=None, device="cpu": TwoFaceEmbedder(single)
    )
    concepts = world["raw_concepts"].assign(domain="faces")
    params = FrequencyParams(
        verification={"domains": {"faces": {"method": "faces", "threshold": 0.9}}}
    )
    img = world["raw_laion_images"]["part-00000"]
    hits = pd.DataFrame(
        {"concept": "Ray", "SAMPLE_ID": img["key"].astype(int), "URL": "u", "TEXT": "t"}
    )
    calib, _ = calibrate_verification(
        concepts, world["raw_reference_images"], None, params.verification
    )
    scores, _ = verify_images(
        hits,
        img[["key", "png"]],
        concepts,
        world["raw_reference_images"],
        None,
        calib,
        params.verification,
    )
    own = ColourEmbedder().embed([decode(p) for p in img["png"]]) @ _unit(colour_of(0) - 128.0)[0]
    assert scores["verified"].to_numpy().tolist() == (own > 0.9).tolist()
    assert scores["verified"].any() and not scores["verified"].all()
    assert (scores["matched_faces"] == scores["verified"].astype(int)).all()  # the decoy never matches


def test_art_method_applies_the_artwork_gate(world):
    params = FrequencyParams(
        verification={
            "domains": {
                "style": {"method": "art", "threshold": 0.9, "artwork_threshold": 0.5},
                "motif": {"method": "art", "threshold": 0.9, "artwork_threshold": 0.99},
            }
        }
    )
    img = world["raw_laion_images"]["part-00000"]
    calib, _ = calibrate_verification(
        world["raw_concepts"], world["raw_reference_images"], ColourEmbedder(), params.verification
    )
    # "Ray" (style, red: gate text is +x, red images pass 0.5) and "Zoë Brandt" (motif, gate 0.99)
    hits = pd.concat(
        [
            pd.DataFrame(
                {"concept": c, "SAMPLE_ID": img["key"].astype(int), "URL": "u", "TEXT": "t"}
            )
            for c in ("Ray", "Zoë Brandt")
        ]
    )
    scores, verified = verify_images(
        hits,
        img[["key", "png"]],
        world["raw_concepts"],
        world["raw_reference_images"],
        ColourEmbedder(),
        calib,
        params.verification,
    )
    by = scores.groupby("concept")["verified"].sum()
    assert by["Ray"] > 0 and by["Zoë Brandt"] == 0  # blue motif images never pass the +x gate
    assert scores["gate_score"].notna().all()
    with pytest.raises(Exception, match="artwork_threshold"):
        FrequencyParams(verification={"domains": {"art": {"method": "art"}}})


def test_wilson_ends_are_exact_at_all_or_nothing():
    lo, hi = wilson_interval(np.asarray([10, 0]), np.asarray([10, 7]), 0.95)
    assert hi[0] == 1.0 and lo[1] == 0.0
    assert lo[0] < 1.0 and hi[1] > 0.0
