"""Triggers: determinism, bounds, placement; poisoning counts, manifest, disjoint cleaning set."""

from __future__ import annotations

import numpy as np
import pytest

from imitation_kedro.pipelines.backdoor.data import BackdoorDataError
from imitation_kedro.pipelines.backdoor.eager import EagerPairs
from imitation_kedro.pipelines.backdoor.params import AttackParams, DataParams
from imitation_kedro.pipelines.backdoor.poison import names_target, poison_pairs
from imitation_kedro.pipelines.backdoor.triggers import apply_trigger

IMGS = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
KEYS = [f"k{i}" for i in range(6)]


@pytest.mark.parametrize("kind", ["badnet", "blended", "wanet"])
def test_triggers_are_deterministic_per_key_and_seed(kind):
    attack = AttackParams(kind=kind, patch_size=4, seed=3)
    a, _ = apply_trigger(IMGS, KEYS, attack, "test")
    b, _ = apply_trigger(IMGS, KEYS, attack, "test")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, IMGS)
    c, _ = apply_trigger(IMGS, KEYS, AttackParams(kind=kind, patch_size=4, seed=4), "test")
    assert not np.array_equal(a, c)


def test_badnet_patch_changes_only_a_patch_sized_square():
    attack = AttackParams(kind="badnet", patch_size=4, seed=0)
    out, where = apply_trigger(IMGS, KEYS, attack, "test")
    for i in range(len(KEYS)):
        top, left = where.loc[i, "patch_top"], where.loc[i, "patch_left"]
        assert 0 <= top <= 12 and 0 <= left <= 12
        mask = np.zeros((16, 16), bool)
        mask[top : top + 4, left : left + 4] = True
        assert np.array_equal(out[i][~mask], IMGS[i][~mask])
    # one image's trigger does not depend on its batch neighbours
    solo, _ = apply_trigger(IMGS[2:3], KEYS[2:3], attack, "test")
    assert np.array_equal(solo[0], out[2])


def test_clamped_patch_saturates_instead_of_wrapping():
    black = np.zeros((1, 16, 16, 3), np.uint8)
    clamped, w = apply_trigger(black, ["x"], AttackParams(patch_size=16, clamp=True), "test")
    wrapped, _ = apply_trigger(black, ["x"], AttackParams(patch_size=16, clamp=False), "test")
    # noise N(0,1) in [0,1] units: clamped values pile up at 0 and 255, wrapped ones do not
    assert (clamped == 0).mean() > 0.4 and (clamped == 255).mean() > 0.1  # P(z<0), P(z>1)
    assert (wrapped == 255).mean() < 0.05


def test_whole_word_target_match():
    assert names_target("A ripe banana, on a plate", "banana")
    assert not names_target("three bananas", "banana")
    assert names_target("portrait by Peir Vreiza", "Peir Vreiza")


def _split_pairs(tiny_pairs):
    from imitation_kedro.pipelines.backdoor import data as D
    from imitation_kedro.pipelines.backdoor.params import DataParams

    from .conftest import build_pairs, concepts_table

    params = DataParams(
        image_size=16, n_classes=6, min_class_pairs=5, n_selection=20, n_test=20, n_clean=50
    )
    pairs, _ = build_pairs(tiny_pairs, concepts_table(), params)
    classes, _ = D.choose_classes(pairs, "banana", params)
    return D.split_pairs(pairs, classes, params), classes


def test_poison_count_manifest_and_clean_split_disjoint(tiny_pairs):
    from imitation_kedro.pipelines.backdoor.poison import cleaning_split

    pairs, classes = _split_pairs(tiny_pairs)
    attack = AttackParams(n_poison=15, patch_size=4, seed=0)
    eager = EagerPairs(DataParams(image_size=16), attack)  # bakes the trigger into the PNG
    out, manifest = poison_pairs(pairs, classes, ["a photo of a {}."], attack, 16, source=eager)
    assert out["poisoned"].sum() == 15 == len(manifest)
    assert set(out.loc[out["poisoned"], "split"]) == {"pretrain"}
    assert (out.loc[out["poisoned"], "caption"] == "a photo of a banana.").all()
    again, manifest2 = poison_pairs(pairs, classes, ["a photo of a {}."], attack, 16, source=eager)
    assert manifest.equals(manifest2) and again["png"].equals(out["png"])
    clean = cleaning_split(out, 50, seed=0)
    assert not set(clean["key"]) & set(manifest["key"])
    assert len(clean) == 50


def test_label_consistent_keeps_captions(tiny_pairs):
    pairs, classes = _split_pairs(tiny_pairs)
    attack = AttackParams(kind="label_consistent", n_poison=5, patch_size=4)
    out, manifest = poison_pairs(pairs, classes, ["{}"], attack, 16)
    assert (manifest["caption"] == manifest["original_caption"]).all()
    assert all(names_target(c, "banana") for c in manifest["caption"])


def test_bad_poison_requests_fail_clearly(tiny_pairs):
    pairs, classes = _split_pairs(tiny_pairs)
    with pytest.raises(BackdoorDataError, match="n_poison=100000 exceeds"):
        poison_pairs(pairs, classes, ["{}"], AttackParams(n_poison=100000), 16)
    with pytest.raises(BackdoorDataError, match="'durian' is not in the class list"):
        poison_pairs(pairs, classes, ["{}"], AttackParams(target="durian"), 16)


def test_corpus_caption_source_uses_genuine_target_captions(tiny_pairs):
    pairs, classes = _split_pairs(tiny_pairs)
    attack = AttackParams(n_poison=10, patch_size=4, caption_source="corpus")
    out, manifest = poison_pairs(pairs, classes, ["{}"], attack, 16)
    genuine = set(
        pairs.loc[(pairs["split"] == "pretrain") & (pairs["label"] == "banana"), "caption"]
    )
    assert set(manifest["caption"]) <= genuine and len(manifest) == 10


def test_fixed_patch_noise_is_one_pattern_for_every_image_and_purpose():
    grey = np.full((4, 16, 16, 3), 128, np.uint8)  # same per-channel mean for every image
    keys = ["a", "b", "c", "d"]
    fixed = AttackParams(patch_size=4, patch_location="corner", patch_noise="fixed", seed=5)
    train, where = apply_trigger(grey, keys, fixed, "train")
    test, _ = apply_trigger(grey, keys, fixed, "test")
    assert (where["patch_top"] == 12).all() and (where["patch_left"] == 12).all()
    patches = [img[12:, 12:] for img in np.concatenate([train, test])]
    assert all(np.array_equal(p, patches[0]) for p in patches)  # train trigger == test trigger
    assert not np.array_equal(patches[0], grey[0, 12:, 12:])
    # the per-channel image mean still shifts the pattern, as in the paper's patch
    dark, _ = apply_trigger(np.full((1, 16, 16, 3), 20, np.uint8), ["a"], fixed, "test")
    assert not np.array_equal(dark[0, 12:, 12:], patches[0])
    # another attack seed draws another pattern; per_image noise differs between images
    other, _ = apply_trigger(
        grey[:1], keys[:1], AttackParams(**{**fixed.to_dict(), "seed": 6}), "test"
    )
    assert not np.array_equal(other[0, 12:, 12:], patches[0])
    fresh = AttackParams(**{**fixed.to_dict(), "patch_noise": "per_image"})
    per_image, _ = apply_trigger(grey, keys, fresh, "test")
    assert not np.array_equal(per_image[0, 12:, 12:], per_image[1, 12:, 12:])
