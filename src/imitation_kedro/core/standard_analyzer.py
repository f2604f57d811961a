"""Caption analysers: Lucene's StandardAnalyzer (``standard``) and the older ``loose`` rule.

``standard`` reproduces Elasticsearch's ``standard`` analyser, the one ``match_phrase`` uses in
FIT §3.1 (Lucene ``StandardTokenizer`` + ``LowerCaseFilter``, no stop words, no folding), and is
checked token for token against Lucene 8 itself (tests/pipelines/frequency/
test_lucene_reference.py):

* Unicode UAX#29 word boundaries (the ``regex`` module's ``(?w)`` mode), keeping only the
  segments Lucene emits: letters/digits (``claude_monet_1890``, ``john.james.audubon``,
  ``art:claude``, ``monet's`` and ``3.5mm`` are single tokens), each CJK ideograph and hiragana
  on its own, katakana/hangul runs, runs of Thai-like scripts, and emoji (sequences included).
  ``_`` alone, punctuation, spaces (NBSP included) and symbols such as ``½`` are not tokens.
* Lucene 8's tables predate Unicode 11, where emoji skin-tone modifiers became ``Extend``: a
  modifier after a non-emoji character starts a token of its own (``a🏽`` -> ``a``, ``🏽``).
* Per-code-point simple lower-casing, as Java's ``Character.toLowerCase`` (``İ`` -> ``i``,
  ``Σ`` -> ``σ`` even at a word end). No Unicode normalisation: NFD "Zoë" is another token
  than NFC "Zoë", exactly as in Elasticsearch.
* Tokens longer than 255 UTF-16 units are cut into pieces (Lucene's ``maxTokenLength``).

``loose`` is the rule this project used first (NFC, ``str.lower``, maximal letter/digit runs,
``'`` kept between letters). It splits where Lucene does not (``claude_monet``, ``art:claude``)
and so counts more; it is kept for recall studies only and is **not** the paper's analyser.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import regex

ANALYZERS = ("standard", "loose")
MAX_TOKEN_UTF16 = 255

_SEGMENTS = regex.compile(r"(?wV1)\b")
# A segment is a token when it holds one of these (Lucene's token types, EMOJI aside).
_WORDISH = regex.compile(
    r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}\p{WB=Numeric}\p{WB=Katakana}\p{Ideographic}"
    r"\p{Script=Hiragana}\p{Script=Hangul}\p{LB=SA}]"
)
_EMOJI = regex.compile(
    r"[\p{Extended_Pictographic}\p{Regional_Indicator}\p{Emoji_Modifier}]"
    r"|\p{Emoji}[\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}]"
)
_SOUTH_EAST_ASIAN = regex.compile(r"[\p{LB=SA}\p{WB=Extend}\p{WB=Format}]+")
_MODIFIER = regex.compile(
    r"(?<=[^\p{Extended_Pictographic}\p{Emoji_Modifier}\u200d\ufe0f])(?=\p{Emoji_Modifier})"
)
_SA_CHAR = regex.compile(r"\p{LB=SA}")
_LOOSE_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


@lru_cache(maxsize=1)
def lower_table() -> dict[int, int]:
    """Simple (one code point to one) lower-case mapping, as ``Character.toLowerCase``.

    ``str.lower`` of all code points at once (no final-sigma context arises: every Σ-like
    letter is followed by another letter); U+0130 is the one code point whose full lower case
    is longer (``i`` + U+0307), so its simple mapping ``i`` is set by hand.
    """
    cps = np.concatenate(
        [np.arange(0, 0x130), np.arange(0x131, 0xD800), np.arange(0xE000, 0x110000)]
    )
    text = cps.astype(np.uint32).tobytes().decode("utf-32-le")
    low = np.frombuffer(text.lower().encode("utf-32-le"), dtype=np.uint32)
    if low.size != cps.size:
        raise RuntimeError("str.lower changed the text length: cannot build the case table")
    diff = np.flatnonzero(low != cps)
    table = dict(zip(cps[diff].tolist(), low[diff].tolist(), strict=True))
    table[0x130] = ord("i")
    return table


def _segments(text: str) -> list[str]:
    parts = []
    for seg in _SEGMENTS.split(text):
        if seg:
            parts.extend(p for p in _MODIFIER.split(seg) if p)
    return parts


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str) -> tuple[str, int]:
    """The longest token prefix of ``text`` within 255 UTF-16 units and its length."""
    units = np.cumsum([2 if ord(ch) > 0xFFFF else 1 for ch in text])
    end = int(np.searchsorted(units, MAX_TOKEN_UTF16, side="right"))
    first = _segments(text[:end])[0]
    return first, len(first)


def _raw_tokens(text: str) -> list[str]:
    out: list[str] = []
    segs = _segments(text)
    i = 0
    while i < len(segs):
        seg, i = segs[i], i + 1
        if _SOUTH_EAST_ASIAN.fullmatch(seg) and _SA_CHAR.search(seg):
            while i < len(segs) and _SOUTH_EAST_ASIAN.fullmatch(segs[i]):
                seg, i = seg + segs[i], i + 1
        if not (_WORDISH.search(seg) or _EMOJI.search(seg)):
            continue
        if _utf16_len(seg) > MAX_TOKEN_UTF16:
            piece, used = _cut(seg)
            out.append(piece)
            out.extend(_raw_tokens(seg[used:]))
        else:
            out.append(seg)
    return out


def standard_tokens(text: object) -> tuple[str, ...]:
    """Lucene StandardAnalyzer tokens of ``text`` (empty for ``None``, NaN or empty text)."""
    if not isinstance(text, str) or not text:
        return ()
    table = lower_table()
    return tuple(t.translate(table) for t in _raw_tokens(text))


def loose_tokens(text: object) -> tuple[str, ...]:
    """The ``loose`` rule (not Lucene's): NFC, ``str.lower``, letter/digit runs."""
    if not isinstance(text, str) or not text:
        return ()
    norm = unicodedata.normalize("NFC", text).lower().replace("\u2019", "'")
    return tuple(_LOOSE_TOKEN.findall(norm))


def analyzer(name: str):
    """The tokeniser called ``name`` (``standard`` or ``loose``)."""
    if name == "standard":
        return standard_tokens
    if name == "loose":
        return loose_tokens
    raise ValueError(f"frequency.matching.analyzer must be one of {ANALYZERS}, got {name!r}")
