"""Caption phrase-match semantics (FIT §3.1) of the single-pass matcher."""

from __future__ import annotations

import random
import sys
import unicodedata

import pandas as pd
import pyarrow as pa
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
    """The reference phrase rule (the world's ground truth uses it): core/phrase_rule.py."""
    from imitation_kedro.core import phrase_rule

    return phrase_rule


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


def _reference_pairs(names, captions, nested="both"):
    """The documented rule, token by token in Python (no prefilter, no joined buffer)."""
    phrases = {n: [tuple(normalise_phrase(n).split(" "))] for n in names}
    found = {}
    for i, cap in enumerate(captions):
        toks = tokenize(cap)
        occ = [
            (s, s + len(p), c)
            for c, ps in phrases.items()
            for p in ps
            for s in range(len(toks) - len(p) + 1)
            if toks[s : s + len(p)] == p
        ]
        if nested == "longest":
            occ = [
                (s, e, c)
                for s, e, c in occ
                if not any(
                    c2 != c and s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2, c2 in occ
                )
            ]
        found.update({(i, c): True for _, _, c in occ})
    return set(found)


TRICKY = [
    "Ray Moss Ray Moss",  # repeated
    "ray moss moss ray",  # overlapping candidates, only one real
    "a b a b c",  # adjacent occurrences share a separator
    "ab'c d ab",  # inner apostrophe
    "'ab' ab''c ab'",  # outer / doubled apostrophes split
    "ab’c and AB’S",  # curly apostrophe
    "RAY,MOSS;ray-moss_ray.moss",  # punctuation and underscore split tokens
    "\x01ray\x01moss\x01",  # control characters (also the buffer's row separator)
    "ray",  # phrase is the whole caption
    "moss ray",
    "x" * 50 + " ray moss",
    "Zoe\u0308 Brandt",  # NFD -> NFC
    "ZOË BRANDT",
    "\u212aite runner",  # KELVIN SIGN lower-cases to k
    "\u0130stanbul i stanbul",  # U+0130 lower-cases to i + combining dot (splits tokens)
    "I\u0307 stanbul",  # NFD of U+0130: NFC composes it first
    "I\u0307",
    "ΟΔΟΣ ΟΔΟΣ.",  # final sigma
    "STRAẞE strasse straße",
    "raymoss ray moss2 ray2 moss",
    "ray\u00a0moss",  # no-break space separates
    "ray\u200bmoss",  # zero-width space: not alnum, separates
    "",
    None,
    "ﬁsh fish",  # ligature is not folded (NFC, not NFKC)
    "１２ ab",  # full-width digits are alnum but not ASCII digits
]
TRICKY_NAMES = [
    "Ray",
    "Ray Moss",
    "Moss",
    "a b",
    "b a",
    "b c",
    "ab'c",
    "AB",
    "Zoë Brandt",
    "Kite",
    "i",
    "stanbul",
    "οδος",
    "straße",
    "Moss2",
    "fish",
    "12",
]


@pytest.mark.parametrize("nested", ["both", "longest"])
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_fast_path_agrees_with_the_reference_rule_on_a_tricky_corpus(nested, batch):
    rnd = random.Random(11)
    captions = TRICKY * 3
    # Random splices of the tricky pieces, so occurrences land at row starts/ends and next to
    # each other, in batches that are all-ASCII, mixed, or one row.
    pieces = [c for c in TRICKY if c] + [" ", ",", "’", "'", "\u0301", "ray", "moss", "a b"]
    captions += ["".join(rnd.choices(pieces, k=rnd.randint(1, 6))) for _ in range(3000)]
    m = _matcher(TRICKY_NAMES, nested=nested)
    got = set()
    for lo in range(0, len(captions), batch):
        got |= {(lo + r, c) for r, c in _pairs(m, captions[lo : lo + batch])}
    assert got == _reference_pairs(TRICKY_NAMES, captions, nested)
    if nested == "both":
        phrase_rule = _world_rule()
        ref = phrase_rule.PhraseMatcher({n: [n] for n in TRICKY_NAMES})
        assert got == {(i, c) for i, cap in enumerate(captions) for c in ref.concepts_in(cap)}


def test_prefilter_never_drops_a_matching_row():
    m = _matcher(TRICKY_NAMES)
    arr = pa.array([c or "" for c in TRICKY], type=pa.large_string())
    hit, _ = m.candidates(arr)
    rows = {r for r, _ in _reference_pairs(TRICKY_NAMES, TRICKY)}
    assert all(hit[r] for r in rows)
    assert not hit[[i for i, c in enumerate(TRICKY) if c == ""]].any()


def test_only_u0130_and_kelvin_sign_lower_case_to_ascii_alnum():
    """The prefilter's fold table (matching._TO_ASCII) covers every such code point."""
    from imitation_kedro.pipelines.frequency.matching import _TO_ASCII

    found = set()
    for cp in range(128, sys.maxunicode + 1):
        ch = chr(cp)
        if any(c.isascii() and c.isalnum() for c in unicodedata.normalize("NFC", ch).lower()):
            found.add(ch)
    assert found == set(_TO_ASCII)


def test_prefilter_literals_are_the_longest_tokens():
    from imitation_kedro.pipelines.frequency.matching import prefilter_literals

    assert prefilter_literals(["ray moss", "a bb", "cc dd", "x"]) == ("bb", "dd", "moss", "x")


def test_every_lower_case_mapping_is_within_the_prefilters_case_folding():
    """For each letter/digit whose NFC + str.lower differs, RE2 ignore_case finds the result."""
    import re

    import pyarrow.compute as pc

    from imitation_kedro.pipelines.frequency.matching import _fold_for_prefilter

    chars, tokens = [], []
    for cp in range(128, sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch)[0] not in "LN":
            continue
        low = unicodedata.normalize("NFC", ch).lower()
        if low != ch:
            for tok in tokenize(low):
                chars.append(ch)
                tokens.append(tok)
    folded = _fold_for_prefilter(pa.array(chars, type=pa.large_string())).to_pylist()
    missed = [
        (hex(ord(c)), t)
        for c, f, t in zip(chars, folded, tokens, strict=True)
        if not pc.match_substring_regex(pa.array([f]), re.escape(t), ignore_case=True)[0].as_py()
    ]
    assert len(chars) > 1000 and missed == []
