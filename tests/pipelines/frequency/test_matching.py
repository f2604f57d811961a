"""Caption phrase-match semantics (FIT §3.1) of the single-pass matcher."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pandas as pd
import pytest

from imitation_kedro.pipelines.frequency.matching import (
    CaptionMatcher,
    MatchingError,
    build_patterns,
    normalise_phrase,
    tokenize,
)


def _matcher(names, aliases=None, nested="both", use_aliases=True):
    aliases = aliases or [[] for _ in names]
    table = pd.DataFrame({"concept": names, "domain": "style", "aliases": aliases})
    return CaptionMatcher(build_patterns(table, use_aliases), nested_names=nested)


def _pairs(matcher, captions):
    rows, conc = matcher.match(captions)
    return {(int(r), matcher.patterns.concepts[c]) for r, c in zip(rows, conc, strict=True)}


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("painting by VAN GOGH, 1889", True),  # case-insensitive, punctuation dropped
        ("Van-Gogh sunflowers", True),  # '-' splits tokens like the standard analyser
        ("vangogh sunflowers", False),  # not a substring match
        ("Gogh, Van", False),  # order matters
        ("van   gogh", True),
        ("a caravan goghs", False),  # word boundaries on both sides
        ("van gogh's ear", False),  # "gogh's" is one token (UAX#29 apostrophe rule)
        ("van_gogh", True),  # '_' splits tokens (only letters/digits form tokens)
        ("", False),
        (None, False),
    ],
)
def test_phrase_examples(caption, expected):
    m = _matcher(["Van Gogh"])
    assert bool(_pairs(m, [caption])) is expected


def test_accents_are_not_folded_and_nfc_is_applied():
    m = _matcher(["Zoë Brandt"])
    decomposed = "Zoe\u0308 Brandt portrait"  # NFD form of the same name
    assert _pairs(m, ["zoë brandt", decomposed, "Zoe Brandt"]) == {
        (0, "Zoë Brandt"),
        (1, "Zoë Brandt"),
    }


def test_aliases_count_once_per_caption_and_can_be_switched_off():
    names, aliases = ["Liam O'Dell"], [["O'Dell", "L. O'Dell"]]
    caption = ["Liam O'Dell, also O'Dell and L. O'Dell"]
    on = _matcher(names, aliases)
    rows, conc = on.match(caption)
    assert rows.tolist() == [0] and conc.tolist() == [0]
    off = _matcher(names, aliases, use_aliases=False)
    assert _pairs(off, ["only O'Dell here"]) == set()


def test_nested_names_both_and_longest():
    caps = ["Ray Moss at sea", "Ray at sea", "Ray Moss and Ray", "ray's hat"]
    both = _pairs(_matcher(["Ray", "Ray Moss"]), caps)
    assert both == {(0, "Ray"), (0, "Ray Moss"), (1, "Ray"), (2, "Ray"), (2, "Ray Moss")}
    longest = _pairs(_matcher(["Ray", "Ray Moss"], nested="longest"), caps)
    assert longest == {(0, "Ray Moss"), (1, "Ray"), (2, "Ray"), (2, "Ray Moss")}


def test_mixed_ascii_and_unicode_rows_keep_their_row_numbers():
    m = _matcher(["Søren Ek", "Kite"])
    caps = ["kite", "Søren Ek’s kite", "SØREN EK", "x", "kite runner"]
    assert _pairs(m, caps) == {(0, "Kite"), (1, "Kite"), (2, "Søren Ek"), (4, "Kite")}


def test_bad_concept_tables_are_named():
    with pytest.raises(MatchingError, match="empty concept name"):
        build_patterns(pd.DataFrame({"concept": ["  "], "domain": ["style"]}), False)
    with pytest.raises(MatchingError, match="no letters or digits"):
        build_patterns(pd.DataFrame({"concept": ["?!"], "domain": ["style"]}), False)
    dup = pd.DataFrame({"concept": ["Van Gogh", "van-gogh"], "domain": ["style", "style"]})
    with pytest.raises(
        MatchingError, match="'van-gogh'.*already a name/alias of concept 'Van Gogh'"
    ):
        build_patterns(dup, False)
    clash = pd.DataFrame(
        {"concept": ["A B", "C"], "domain": ["style"] * 2, "aliases": [[], ["a. b"]]}
    )
    with pytest.raises(MatchingError, match="alias 'a. b'"):
        build_patterns(clash, True)
    with pytest.raises(MatchingError, match="columns found"):
        build_patterns(pd.DataFrame({"name": ["x"]}), False)


def test_own_duplicate_alias_is_dropped_not_an_error():
    table = pd.DataFrame({"concept": ["Kite"], "domain": ["motif"], "aliases": [["KITE", "kite!"]]})
    assert build_patterns(table, True).phrases == ("kite",)


def _world_rule():
    path = (
        Path(__file__).resolve().parents[3] / "src/imitation_kedro/pipelines/world/phrase_rule.py"
    )
    if not path.exists():
        pytest.skip("the world's phrase_rule.py is not there")
    spec = importlib.util.spec_from_file_location("world_phrase_rule", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("alphabet", ["abcAB '’_-.,!é ΣΟς0\x01\tİ", "abAB '-._,0"])
def test_agrees_with_world_reference_rule_on_random_text(alphabet):
    phrase_rule = _world_rule()
    rnd = random.Random(7)
    alphabet = list(alphabet)
    names = ["ab", "a b", "ba a", "Ab'c", "o'dell", "é a", "ΟΣ", "0 a", "b-a a", "a_b c"]
    caps = ["".join(rnd.choices(alphabet, k=rnd.randint(0, 14))) for _ in range(20000)]
    caps += [None, "", "ab's", "AB'C d", "ΟΔΟΣ.Α"]
    m = _matcher(names)
    ref = phrase_rule.PhraseMatcher({n: [n] for n in names})
    expected = {(i, c) for i, cap in enumerate(caps) for c in ref.concepts_in(cap)}
    assert _pairs(m, caps) == expected
    assert all(normalise_phrase(n) == phrase_rule.normalise_phrase(n) for n in names)
    assert all(tokenize(c) == phrase_rule.tokenize(c) for c in caps[:2000])
