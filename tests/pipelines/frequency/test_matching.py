"""Caption phrase-match semantics (FIT §3.1) of the single-pass matcher."""

from __future__ import annotations

import random

import pandas as pd
import pyarrow as pa
import pytest

from imitation_kedro.core.standard_analyzer import standard_tokens
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
        ("van gogh\u2019s ear", False),  # same with a curly apostrophe
        ("van_gogh_1889.jpg", False),  # '_' joins letters/digits into one token (Lucene)
        ("van.gogh.png", False),  # letter.letter is one token
        ("art:van gogh", False),  # letter:letter is one token
        ("van gogh.", True),  # a final '.' is not part of the token
        ("van gogh.1889", True),  # letter.digit splits
        ("van\u00a0gogh", True),  # a non-breaking space splits
        ("van\u202fgogh", False),  # a narrow no-break space joins (UAX#29 ExtendNumLet)
        ("van gogh\u200d", False),  # a trailing ZWJ stays in the token
        ("#vangogh 🎨 van gogh🎨", True),  # an emoji is a token of its own
        ("van gogh日本", True),  # each ideograph is a token of its own
        ("", False),
        (None, False),
    ],
)
def test_phrase_examples(caption, expected):
    m = _matcher(["Van Gogh"])
    assert bool(_pairs(m, [caption])) is expected


def test_accents_are_not_folded_and_text_is_not_normalised():
    m = _matcher(["Zoë Brandt"])
    decomposed = "Zoe\u0308 Brandt portrait"  # NFD: another token for Elasticsearch
    assert _pairs(m, ["zoë brandt", decomposed, "Zoe Brandt", "ZOË BRANDT"]) == {
        (0, "Zoë Brandt"),
        (3, "Zoë Brandt"),
    }


def test_loose_analyzer_keeps_the_old_rule_and_counts_more():
    table = pd.DataFrame({"concept": ["Claude Monet"], "domain": "style"})
    caps = [
        "claude_monet_1890.jpg",
        "art:claude monet",
        "Claude Monet's garden",
        "john.claude.monet.png",
        "Claude Monet",
        "Cla\u0301ude Monet",
        "CLAUDE-MONET",
    ]
    loose = CaptionMatcher(build_patterns(table, False, "loose"))
    standard = CaptionMatcher(build_patterns(table, False, "standard"))
    assert {r for r, _ in _pairs(loose, caps)} == {0, 1, 3, 4, 6}
    assert {r for r, _ in _pairs(standard, caps)} == {4, 6}
    with pytest.raises(MatchingError, match="analyzer must be one of"):
        build_patterns(table, False, "english")


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
    with pytest.raises(MatchingError, match="no standard analyser token"):
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


def _reference_pairs(names, captions, nested="both", analyzer="standard"):
    """The documented rule, token by token in Python (no scanner, no joined buffer)."""
    phrases = {n: tuple(normalise_phrase(n, analyzer).split(" ")) for n in names}
    found = set()
    for i, cap in enumerate(captions):
        toks = tokenize(cap, analyzer)
        occ = [
            (s, s + len(p), c)
            for c, p in phrases.items()
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
        found |= {(i, c) for _, _, c in occ}
    return found


TRICKY = [
    "Ray Moss Ray Moss",  # repeated
    "ray moss moss ray",  # overlapping candidates, only one real
    "a b a b c",  # adjacent occurrences share a separator
    "ab'c d ab",  # inner apostrophe
    "'ab' ab''c ab'",  # outer / doubled apostrophes split
    "ab’c and AB’S",  # curly apostrophe
    "RAY,MOSS;ray-moss_ray.moss ray:moss ray..moss ray._.moss",
    "1,2 12 1.2 12.a a.12 12;",  # digits join across , ; . '
    "\x01ray\x01moss\x01",  # control characters
    "ray",  # phrase is the whole caption
    "moss ray",
    "x" * 50 + " ray moss",
    "y" * 300 + " ray moss " + "z" * 256,  # tokens over 255 chars are cut (Lucene)
    "Zoe\u0308 Brandt",  # NFD: not the NFC name
    "ZOË BRANDT",
    "\u212aite runner",  # KELVIN SIGN lower-cases to k
    "\u0130stanbul i stanbul",  # U+0130 lower-cases to i (simple mapping, as Java)
    "ΟΔΟΣ ΟΔΟΣ.",  # no final sigma: Lucene lower-cases per code point
    "STRAẞE strasse straße",
    "raymoss ray moss2 ray2 moss",
    "ray\u00a0moss ray\u202fmoss",
    "ray\u200bmoss",  # zero-width space separates
    "",
    None,
    "ﬁsh fish",  # ligature is not folded
    "１２ ab",  # full-width digits
    "ray🎨moss ray 🏽 moss a🏽b",  # emoji are tokens
    "日本 ray 日 moss",
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
    "οδοσ",
    "straße",
    "Moss2",
    "fish",
    "12",
    "1,2",
    "日 ray",
    "ray🎨moss",
    "ray:moss",
]


@pytest.mark.parametrize("analyzer", ["standard", "loose"])
@pytest.mark.parametrize("nested", ["both", "longest"])
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_fast_path_agrees_with_the_analyser_on_a_tricky_corpus(nested, batch, analyzer):
    rnd = random.Random(11)
    captions = TRICKY * 3
    # Random splices of the tricky pieces, so occurrences land at row starts/ends and next to
    # each other, in batches that are all-ASCII, mixed, or one row.
    pieces = [c for c in TRICKY if c] + [
        " ",
        ",",
        "’",
        "'",
        "\u0301",
        "ray",
        "moss",
        "a b",
        ".",
        "_",
        ":",
        "1",
        "\u200d",
    ]
    captions += ["".join(rnd.choices(pieces, k=rnd.randint(1, 6))) for _ in range(3000)]
    names = list({normalise_phrase(n, analyzer): n for n in reversed(TRICKY_NAMES)}.values())
    table = pd.DataFrame({"concept": names, "domain": "style"})
    m = CaptionMatcher(build_patterns(table, False, analyzer), nested_names=nested)
    got = set()
    for lo in range(0, len(captions), batch):
        got |= {(lo + r, c) for r, c in _pairs(m, captions[lo : lo + batch])}
    assert got == _reference_pairs(names, captions, nested, analyzer)
    assert len(got) > 1000


@pytest.mark.parametrize(
    "alphabet", ["abcAB '’_-.,:;!é ΣΟς01\x01\tİK日\u0301\u00a0", "abAB '-._,:;01"]
)
def test_agrees_with_the_world_phrase_rule_on_random_text(alphabet):
    """core/phrase_rule.py builds the world's ground truth: same analyser, same counts."""
    from imitation_kedro.core import phrase_rule

    rnd = random.Random(7)
    names = [
        "ab",
        "a b",
        "ba a",
        "Ab'c",
        "o'dell",
        "é a",
        "ΟΣ",
        "0 a",
        "b-a a",
        "a_b c",
        "1.0 b",
        "a:b",
        "日 a",
        "K a",
    ]
    caps = ["".join(rnd.choices(alphabet, k=rnd.randint(0, 14))) for _ in range(20000)]
    caps += [None, "", "ab's", "AB'C d", "ΟΔΟΣ.Α"]
    ref = phrase_rule.PhraseMatcher({n: [n] for n in names})
    expected = {(i, c) for i, cap in enumerate(caps) for c in ref.concepts_in(cap)}
    assert _pairs(_matcher(names), caps) == expected and len(expected) > 500
    assert all(tokenize(c) == phrase_rule.tokenize(c) for c in caps[:2000])


def test_every_upper_case_form_of_a_name_character_is_found():
    """The scanner's byte classes cover every code point whose simple lower case is the letter."""
    from imitation_kedro.core.standard_analyzer import lower_table

    table = lower_table()
    names = sorted({chr(v) for v in table.values() if standard_tokens(chr(v)) == (chr(v),)})
    m = _matcher([f"x{n}x" for n in names])
    caps = [f"a X{chr(k)}X b" for k, v in table.items() if chr(v) in names]
    want = _reference_pairs([f"x{n}x" for n in names], caps)
    assert _pairs(m, caps) == want and len(want) > 1000


def test_simple_names_in_ascii_rows_skip_verification():
    """The exact byte patterns decide ordinary names in ASCII rows; the rest is re-tokenised."""
    from imitation_kedro.pipelines.frequency.scanner import PhraseScanner

    scanner = PhraseScanner([("claude", "monet"), ("日", "a"), ("o'dell",), ("_a",)])
    assert scanner.simple.tolist() == [True, False, True, False]
    rows, pid, verify = scanner.scan(pa.array(["Claude Monet", "Claude Monét", "O'Dell 日 a"]))
    got = {(int(r), int(p)): bool(v) for r, p, v in zip(rows, pid, verify, strict=True)}
    assert got == {(0, 0): False, (2, 1): True, (2, 2): True}


def test_a_name_joined_to_the_character_before_it_is_flagged_and_verified():
    """``art:claude`` and ``5,55`` are one Lucene token: the patterns let them through, a flag
    pattern marks the row and the analyser decides."""
    from imitation_kedro.pipelines.frequency.scanner import PhraseScanner

    scanner = PhraseScanner([("claude", "monet"), ("55", "x")])
    caps = ["art:claude monet", "a.claude monet", "a. claude monet", ":claude monet", "5,55 x"]
    caps += ["a,55 x", "it's claude monet", "l'claude monet"]
    rows, pid, verify = scanner.scan(pa.array(caps))
    got = {(int(r), int(p)): bool(v) for r, p, v in zip(rows, pid, verify, strict=True)}
    assert got == {
        (0, 0): True,  # art:claude -> verified (no match)
        (1, 0): True,
        (2, 0): False,  # ". claude": a space breaks the join, exact
        (3, 0): False,  # ":" at the row start joins nothing
        (4, 1): True,  # 5,55 -> verified (no match)
        (5, 1): False,  # "a,55": the comma joins digits only
        (6, 0): False,
        (7, 0): True,  # l'claude -> verified (no match)
    }
    want = {(2, "Claude Monet"), (3, "Claude Monet"), (5, "55 x"), (6, "Claude Monet")}
    assert _pairs(_matcher(["Claude Monet", "55 x"]), caps) == want


def test_rare_case_forms_are_flagged_not_spelled_out_in_every_pattern():
    """KELVIN SIGN and U+0130 (lower case k/i) cost every pattern speed: one flag pattern instead."""
    from imitation_kedro.pipelines.frequency.scanner import PhraseScanner, phrase_pattern

    assert "\\xe2" not in phrase_pattern(("kite", "ink"))[0]  # no multi-byte K/İ alternatives
    assert "\\xc4" not in phrase_pattern(("kite", "ink"))[0]
    scanner = PhraseScanner([("kite", "ink")])
    rows, pid, verify = scanner.scan(pa.array(["kite ink", "\u212aite \u0130nk", "kite\u0130nk x"]))
    got = {(int(r), int(p)): bool(v) for r, p, v in zip(rows, pid, verify, strict=True)}
    assert got == {(0, 0): False, (1, 1): True, (2, 1): True}  # id 1 = "verify this row"
    assert _pairs(_matcher(["Kite Ink"]), ["\u212aite \u0130nk", "kite\u0130nk"]) == {
        (0, "Kite Ink")
    }


def test_chunked_columns_are_matched_chunk_by_chunk_with_global_row_numbers():
    m = _matcher(["Ray Moss", "Kite"])
    caps = ["ray moss", None, "Kite", "x", "", "RAY MOSS kite", "n\u00e9 kite", "ray", "moss"]
    chunked = pa.chunked_array([caps[:2], caps[2:3], [], caps[3:7], caps[7:]], pa.string())
    assert chunked.num_chunks == 5
    assert m.match(chunked)[0].tolist() == m.match(pa.array(caps))[0].tolist() == [0, 2, 5, 5, 6]
    assert m.match(chunked)[1].tolist() == m.match(caps)[1].tolist()


def test_unique_int_and_in_sorted_are_numpy_unique_and_isin():
    import numpy as np

    from imitation_kedro.pipelines.frequency.scanner import in_sorted, unique_int

    rng = np.random.default_rng(3)
    for size in (0, 1, 2, 1000):
        keys = np.sort(rng.integers(0, 50, size)) * 7 + rng.integers(0, 3, size)
        assert unique_int(keys).tolist() == np.unique(keys).tolist()
        probe = rng.integers(-5, 400, 300)
        assert in_sorted(probe, unique_int(keys)).tolist() == np.isin(probe, keys).tolist()


def test_a_pickled_scanner_carries_its_database_and_scans_the_same(hyperscan_backend):
    import pickle

    import numpy as np

    from imitation_kedro.pipelines.frequency.scanner import PhraseScanner

    scanner = PhraseScanner([("claude", "monet"), ("ray",)], hyperscan=hyperscan_backend)
    assert scanner.backend == hyperscan_backend
    texts = pa.array(
        ["Claude  Monet, garden", "ray-ban", "x claude_monet", "", "Ray", "Claude.Monet"]
    )
    copy = pickle.loads(pickle.dumps(scanner))
    for got, want in zip(copy.scan(texts), scanner.scan(texts), strict=True):
        np.testing.assert_array_equal(got, want)
    rows, pid, _ = scanner.scan(texts)
    assert list(zip(rows.tolist(), pid.tolist(), strict=True)) == [(0, 0), (1, 1), (4, 1)]
