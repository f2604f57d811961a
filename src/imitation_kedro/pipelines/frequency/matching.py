"""Caption phrase matching: the rule, concept patterns, and an all-concepts-in-one-pass scanner.

The rule (FIT §3.1: Elasticsearch ``match_phrase`` on the standard analyser) is
:mod:`imitation_kedro.core.phrase_rule` (``tokenize``), the one the world's ground truth uses:

* Caption text is Unicode-NFC normalised, lower-cased with ``str.lower`` and ``’`` becomes ``'``.
  Accents are not folded ("Zoë" does not match "Zoe").
* Tokens are maximal runs of letters/digits (Unicode alnum; ``_`` and punctuation split); an
  apostrophe *between* two letters/digits stays inside the token ("Ray's" -> ``ray's``, which
  therefore does not match "Ray").
* A name matches when its tokens occur consecutively and in order among the caption's tokens.
* A concept counts at most once per caption, whichever of its name/aliases matched.
* A name inside a longer concept name (``nested_names``): ``both`` (default, like
  ``match_phrase``) counts the caption for both concepts; ``longest`` drops an occurrence that lies
  strictly inside an occurrence of a *different* concept's longer name (the caption still counts
  if the short name also occurs on its own elsewhere).

Fast path, in two stages, both exact with respect to the rule above:

1. **Prefilter** (compiled, vectorised; Arrow's RE2): a caption can only name a phrase if it
   contains, case-insensitively, the phrase's longest token as a substring. One RE2 alternation
   of those literals (``ignore_case``) marks the candidate rows. ASCII rows are searched as they
   are; other rows after Arrow's NFC, then ``’`` -> ``'``, ``İ`` -> ``i`` and Kelvin sign -> ``k``
   (the only characters whose NFC + ``str.lower`` yields an ASCII letter or digit; every other
   lower-case mapping is within RE2's case folding), so the prefilter can only keep too many
   rows, never drop a matching one. The tests check this against the reference rule.
2. **Exact match** of the candidates: each group of rows becomes one string -- rows separated by
   ``\\x01``, every token between single spaces -- scanned once by a pyahocorasick automaton
   whose keys are the phrases with a space on each side, so every hit is a whole-token
   occurrence (overlapping and adjacent ones included). ASCII rows are normalised with
   vectorised numpy byte operations; other rows go through :func:`tokenize` (the reference rule
   itself).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from imitation_kedro.core.phrase_rule import normalise_phrase, tokenize

SEP = 1  # row separator code point (never part of a normalised row: control chars split tokens)
SPACE = 32
APOS = 39


# --- ASCII byte tables: lower-case letters, keep digits and apostrophes, everything else space.
_ALNUM = np.zeros(256, dtype=bool)
_TRANSLATE = np.full(256, SPACE, dtype=np.uint8)
for _c in range(128):
    _ch = chr(_c)
    if _ch.isalnum():
        _ALNUM[_c] = True
        _TRANSLATE[_c] = ord(_ch.lower())
_TRANSLATE[APOS] = APOS
_ROW_BREAK = np.asarray([SPACE, SEP, SPACE], dtype=np.uint8)


class MatchingError(ValueError):
    """The concept table or a caption shard cannot be matched (names the culprit)."""


@dataclass(frozen=True)
class PatternTable:
    """Phrases to search: ``phrases[i]`` belongs to concept index ``owner[i]``."""

    concepts: tuple[str, ...]
    phrases: tuple[str, ...]
    owner: np.ndarray  # int64, concept index per phrase

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"concept": [self.concepts[i] for i in self.owner], "phrase": list(self.phrases)}
        )

    @classmethod
    def from_frame(cls, phrases: pd.DataFrame) -> PatternTable:
        """The table back from ``int_concept_phrases`` (concept, phrase; concepts in row order)."""
        names = tuple(pd.unique(phrases["concept"]))
        index = {c: i for i, c in enumerate(names)}
        owner = np.asarray([index[c] for c in phrases["concept"]], dtype=np.int64)
        return cls(names, tuple(phrases["phrase"]), owner)


def build_patterns(concepts: pd.DataFrame, use_aliases: bool) -> PatternTable:
    """Validate the concept table and list each concept's normalised phrases.

    Errors (naming the concept): missing columns, empty or token-less names/aliases, two concepts
    with the same normalised name, one phrase shared by two concepts. A concept's alias that
    normalises to one of its own phrases is dropped (it would match the same captions).
    """
    needed = {"concept", "domain"} | ({"aliases"} if use_aliases else set())
    missing = sorted(needed - set(concepts.columns))
    if missing:
        raise MatchingError(
            f"concept table lacks column(s) {missing}; columns found: {list(concepts.columns)}"
        )
    if concepts.empty:
        raise MatchingError("concept table is empty: nothing to count")
    names: list[str] = []
    phrases: list[str] = []
    owner: list[int] = []
    seen: dict[str, str] = {}
    for idx, row in enumerate(concepts.itertuples(index=False)):
        name = row.concept
        if not isinstance(name, str) or not name.strip():
            raise MatchingError(f"concept table row {idx}: empty concept name {name!r}")
        candidates = [name]
        if use_aliases:
            aliases = row.aliases
            if aliases is None or (isinstance(aliases, float) and np.isnan(aliases)):
                aliases = []
            candidates += [str(a) for a in list(aliases)]
        own: set[str] = set()
        for k, text in enumerate(candidates):
            norm = normalise_phrase(text)
            what = "name" if k == 0 else "alias"
            if not norm:
                raise MatchingError(
                    f"concept {name!r}: {what} {text!r} has no letters or digits and can never "
                    "match a caption"
                )
            if norm in own:
                continue
            if norm in seen:
                raise MatchingError(
                    f"concept {name!r}: {what} {text!r} normalises to {norm!r}, already a "
                    f"name/alias of concept {seen[norm]!r}; rename or drop one of them"
                )
            seen[norm] = name
            own.add(norm)
            phrases.append(norm)
            owner.append(idx)
        names.append(name)
    if len(set(names)) != len(names):
        dup = pd.Series(names)[pd.Series(names).duplicated()].tolist()
        raise MatchingError(f"duplicate concept name(s) {dup}")
    return PatternTable(tuple(names), tuple(phrases), np.asarray(owner, dtype=np.int64))


class CaptionMatcher:
    """Find, for a batch of captions, every (row, concept) pair whose caption names the concept."""

    def __init__(self, patterns: PatternTable, nested_names: str = "both") -> None:
        import ahocorasick

        if nested_names not in ("both", "longest"):
            raise MatchingError(f"nested_names must be 'both' or 'longest', got {nested_names!r}")
        self.patterns = patterns
        self.nested_names = nested_names
        # Keys are " phrase ": in the joined text every token is between two spaces, so each
        # automaton hit is a whole-token occurrence (adjacent hits may share a space).
        self._len = np.asarray([len(p) + 2 for p in patterns.phrases], dtype=np.int64)
        self._automaton = ahocorasick.Automaton()
        for i, phrase in enumerate(patterns.phrases):
            self._automaton.add_word(f" {phrase} ", i)
        self._automaton.make_automaton()
        self.prefilter_literals = prefilter_literals(patterns.phrases)
        literals = "|".join(re.escape(lit) for lit in self.prefilter_literals)
        self._prefilter = pc.MatchSubstringOptions(literals, ignore_case=True)
        # The same pass also flags every row holding a non-ASCII character (re-checked folded).
        self._prefilter_or_non_ascii = pc.MatchSubstringOptions(
            f"{literals}|[^\\x00-\\x7f]", ignore_case=True
        )

    @property
    def n_concepts(self) -> int:
        return len(self.patterns.concepts)

    def candidates(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Rows that may name a phrase (a superset of the matching rows) and the ASCII mask.

        One RE2 pass marks rows holding a literal or any non-ASCII character; the non-ASCII ones
        are then searched again after the fold (NFC etc.), so rows without a hit are ASCII.
        """
        found = pc.call_function("match_substring_regex", [arr], self._prefilter_or_non_ascii)
        hit = found.to_numpy(zero_copy_only=False)
        ascii_mask = np.ones(len(arr), dtype=bool)
        where = np.flatnonzero(hit)
        if where.size == 0:
            return hit, ascii_mask
        sub = arr.take(pa.array(where))
        sub_ascii = pc.string_is_ascii(sub).to_numpy(zero_copy_only=False)
        if sub_ascii.all():
            return hit, ascii_mask
        other = where[~sub_ascii]
        ascii_mask[other] = False
        folded = _fold_for_prefilter(sub.filter(pa.array(~sub_ascii)))
        again = pc.call_function("match_substring_regex", [folded], self._prefilter)
        hit[other] = again.to_numpy(zero_copy_only=False)
        return hit, ascii_mask

    def match(
        self, texts: Sequence[object] | pa.Array | pa.ChunkedArray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return sorted unique ``(row, concept_index)`` int64 arrays for ``texts``."""
        arr = _as_string_array(texts)
        if len(arr) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        hit, ascii_mask = self.candidates(arr)
        rows_parts, conc_parts = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for mask, build in ((ascii_mask, _ascii_codes), (~ascii_mask, _python_codes)):
            where = np.flatnonzero(mask & hit)
            if where.size == 0:
                continue
            text, codes = build(arr.take(pa.array(where)))
            r, c = self._scan(text, codes)
            rows_parts.append(where[r])
            conc_parts.append(c)
        rows = np.concatenate(rows_parts)
        conc = np.concatenate(conc_parts)
        key = np.unique(rows * self.n_concepts + conc)
        return key // self.n_concepts, key % self.n_concepts

    def _scan(self, text: str, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One Aho-Corasick pass over the joined rows; every hit is exact -> (row, concept)."""
        hits = np.fromiter(
            itertools.chain.from_iterable(self._automaton.iter(text)), dtype=np.int64
        ).reshape(-1, 2)
        if hits.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        end, pid = hits[:, 0], hits[:, 1]
        start = end - self._len[pid] + 1
        row = np.searchsorted(np.flatnonzero(codes == SEP), start, side="right") - 1
        conc = self.patterns.owner[pid]
        if self.nested_names == "longest":
            keep = _outermost(row, start, end, conc)
            row, conc = row[keep], conc[keep]
        return row.astype(np.int64), conc.astype(np.int64)


def _outermost(row: np.ndarray, start: np.ndarray, end: np.ndarray, conc: np.ndarray) -> np.ndarray:
    """Mask of occurrences not strictly inside a longer occurrence of another concept (same row)."""
    keep = np.ones(row.size, dtype=bool)
    order = np.lexsort((end, start, row))
    row_s = row[order]
    bounds = np.flatnonzero(np.diff(row_s)) + 1
    for group in np.split(order, bounds):
        if group.size < 2 or np.unique(conc[group]).size < 2:
            continue
        for i in group:
            inside = (
                (conc[group] != conc[i])
                & (start[group] <= start[i])
                & (end[group] >= end[i])
                & ((end[group] - start[group]) > (end[i] - start[i]))
            )
            if inside.any():
                keep[i] = False
    return keep


def _as_string_array(texts: object) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        values = [t if isinstance(t, str) else None for t in texts]  # type: ignore[union-attr]
        texts = pa.array(values, type=pa.large_string())
    if pa.types.is_dictionary(texts.type):
        texts = texts.dictionary_decode()
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        if pa.types.is_null(texts.type) or pa.types.is_string_view(texts.type):
            texts = texts.cast(pa.large_string())
        else:
            raise MatchingError(f"caption column must hold strings, got arrow type {texts.type}")
    return pc.fill_null(texts, "")


def _ascii_buffer(arr: pa.Array) -> np.ndarray:
    """Vectorised normalisation of ASCII-only captions into one byte buffer.

    Layout: ``" \\x01 tok tok \\x01 tok \\x01 "`` -- rows separated by SEP, every token between
    single spaces (each row starts and ends with one), letters lower-cased, apostrophes kept only
    between two letters/digits, every other byte a separator.
    """
    arr = pc.fill_null(arr, "")
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    offsets = offsets.astype(np.int64)
    data_buf = arr.buffers()[2]
    raw = (
        np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if data_buf is not None
        else np.empty(0, np.uint8)
    )
    b = _TRANSLATE[raw]
    cuts = np.repeat(offsets - offsets[0], 3)
    b = np.insert(b, cuts, np.tile(_ROW_BREAK, offsets.size))
    apos = np.flatnonzero(b == APOS)
    if apos.size:
        inner = _ALNUM[b[apos - 1]] & _ALNUM[b[apos + 1]]
        b[apos[~inner]] = SPACE
    sp = b == SPACE
    keep = np.ones(b.size, dtype=bool)
    keep[1:] = ~(sp[1:] & sp[:-1])
    return b[keep]


def _ascii_codes(arr: pa.Array) -> tuple[str, np.ndarray]:
    """The joined normalised text of ASCII-only captions and its byte codes."""
    b = _ascii_buffer(arr)
    return b.tobytes().decode("ascii"), b


def _python_codes(arr: pa.Array) -> tuple[str, np.ndarray]:
    """Reference normalisation (:func:`tokenize`) for captions with non-ASCII characters."""
    rows = [" ".join(tokenize(t)) for t in arr.to_pylist()]
    text = " \x01 " + " \x01 ".join(rows) + " \x01 "
    return text, np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


# NFC + str.lower of these (and only these) non-ASCII characters yields an ASCII letter/digit
# (U+0130 -> "i\u0307", KELVIN SIGN -> "k"; checked over all code points by the tests).
_TO_ASCII = {"\u0130": "i", "\u212a": "k"}


def _fold_for_prefilter(arr: pa.Array) -> pa.Array:
    """Non-ASCII captions for the prefilter: NFC, then curly apostrophe and U+0130/U+212A folded.

    NFC comes first: it can compose ``I`` + U+0307 into U+0130, which must then become ``i``.
    """
    arr = pc.utf8_normalize(arr, "NFC")
    arr = pc.replace_substring(arr, "\u2019", "'")
    for src, dst in _TO_ASCII.items():
        arr = pc.replace_substring(arr, src, dst)
    return arr


def prefilter_literals(phrases: Sequence[str]) -> tuple[str, ...]:
    """The prefilter's literals: each phrase's longest token (sorted, distinct).

    Every caption that names a phrase contains (case-insensitively, after the fold above) each of
    that phrase's tokens as a substring, so it contains the phrase's literal.
    """
    return tuple(sorted({max(p.split(" "), key=lambda t: (len(t), t)) for p in phrases}))
