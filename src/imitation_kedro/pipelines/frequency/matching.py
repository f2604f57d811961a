"""Caption phrase matching: the rule, concept patterns, and an all-concepts-in-one-pass scanner.

The rule (FIT §3.1: Elasticsearch ``match_phrase`` on the standard analyser), identical to the
world's reference rule in ``imitation_kedro.pipelines.world.phrase_rule``:

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

Fast path: each chunk of captions becomes one string -- rows separated by ``\\x01``, tokens by one
space -- scanned once by a pyahocorasick automaton holding every concept's phrases; a match counts
when the characters on both sides are a space or a row separator. ASCII rows (most of LAION-en)
are normalised with vectorised numpy byte operations; other rows go through :func:`tokenize`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
SEP = 1  # row separator code point (never part of a normalised row: control chars split tokens)
SPACE = 32
APOS = 39


def tokenize(text: object) -> tuple[str, ...]:
    """Lower-cased analyser tokens of ``text`` (empty for None/NaN/empty)."""
    if not isinstance(text, str) or not text:
        return ()
    norm = unicodedata.normalize("NFC", text).lower().replace("\u2019", "'")
    return tuple(_TOKEN.findall(norm))


def normalise_phrase(phrase: object) -> str:
    """A name's canonical form: its tokens joined by single spaces ('' if it has none)."""
    return " ".join(tokenize(phrase))


# --- ASCII byte tables: lower-case letters, keep digits and apostrophes, everything else space.
_ALNUM = np.zeros(256, dtype=bool)
_TRANSLATE = np.full(256, SPACE, dtype=np.uint8)
for _c in range(128):
    _ch = chr(_c)
    if _ch.isalnum():
        _ALNUM[_c] = True
        _TRANSLATE[_c] = ord(_ch.lower())
_TRANSLATE[APOS] = APOS
_ALNUM_LOWER = _ALNUM.copy()


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
        self._len = np.asarray([len(p) for p in patterns.phrases], dtype=np.int64)
        self._automaton = ahocorasick.Automaton()
        for i, phrase in enumerate(patterns.phrases):
            self._automaton.add_word(phrase, i)
        self._automaton.make_automaton()
        first = [
            _token_key(p.split(" ")[0].encode("ascii")) for p in patterns.phrases if p.isascii()
        ]
        self._first_table = np.zeros(1 << _TABLE_BITS, dtype=bool)
        self._first_table[_key_slot(np.asarray(first, dtype=np.uint64))] = True

    @property
    def n_concepts(self) -> int:
        return len(self.patterns.concepts)

    def match(
        self, texts: Sequence[object] | pa.Array | pa.ChunkedArray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return sorted unique ``(row, concept_index)`` int64 arrays for ``texts``."""
        arr = _as_string_array(texts)
        n = len(arr)
        if n == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        ascii_mask = pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False)
        rows_parts, conc_parts = [], []
        for mask, build in ((ascii_mask, self._ascii_candidates), (~ascii_mask, _python_codes)):
            where = np.flatnonzero(mask)
            if where.size == 0:
                continue
            sub = arr if where.size == n else arr.take(pa.array(where))
            text, codes, row_ids = build(sub)
            r, c = self._scan(text, codes)
            rows_parts.append(where[row_ids[r]])
            conc_parts.append(c)
        rows = np.concatenate(rows_parts)
        conc = np.concatenate(conc_parts)
        key = np.unique(rows * self.n_concepts + conc)
        return key // self.n_concepts, key % self.n_concepts

    def _ascii_candidates(self, arr: pa.Array) -> tuple[str, np.ndarray, np.ndarray]:
        """Normalise ASCII rows; keep only rows holding a token that starts some phrase.

        The prefilter compares (token length, first 4 bytes) keys, so it can only keep too many
        rows, never drop a row with a match; the automaton then scans the kept rows.
        """
        b = _ascii_buffer(arr)
        seps = np.flatnonzero(b == SEP)
        tok = (b != SPACE) & (b != SEP)
        starts = np.flatnonzero(tok[1:] & ~tok[:-1]) + 1
        ends = np.flatnonzero(tok[:-1] & ~tok[1:]) + 1
        hit = self._first_table[_key_slot(_token_keys(b, starts, ends - starts))]
        rows = np.unique(np.searchsorted(seps, starts[hit], side="right") - 1)
        n_rows = seps.size - 1
        if rows.size < n_rows:
            keep_row = np.zeros(n_rows, dtype=bool)
            keep_row[rows] = True
            byte_keep = np.repeat(keep_row, np.diff(seps))
            b = np.append(b[: seps[-1]][byte_keep], np.uint8(SEP))
        return b.tobytes().decode("ascii"), b, rows.astype(np.int64)

    def _scan(self, text: str, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One Aho-Corasick pass over the joined chunk; boundary-checked matches -> (row, concept)."""
        found = list(self._automaton.iter(text)) if text else []
        if not found:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        hits = np.asarray(found, dtype=np.int64)
        end, pid = hits[:, 0], hits[:, 1]
        start = end - self._len[pid] + 1
        before, after = codes[start - 1], codes[end + 1]
        ok = ((before == SPACE) | (before == SEP)) & ((after == SPACE) | (after == SEP))
        start, end, pid = start[ok], end[ok], pid[ok]
        seps = np.flatnonzero(codes == SEP)
        row = np.searchsorted(seps, start, side="right") - 1
        conc = self.patterns.owner[pid]
        if self.nested_names == "longest" and row.size:
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
        if pa.types.is_null(texts.type):
            texts = texts.cast(pa.large_string())
        else:
            raise MatchingError(f"caption column must hold strings, got arrow type {texts.type}")
    return pc.fill_null(texts, "")


def _token_key(token: bytes) -> int:
    """(length, first 4 bytes) of a token as one integer: the prefilter's key."""
    head = token[:4].ljust(4, b"\0")
    return (min(len(token), 255) << 32) | int.from_bytes(head, "big")


_TABLE_BITS = 22
_HEAD_MASK = np.asarray([0, 0xFF000000, 0xFFFF0000, 0xFFFFFF00, 0xFFFFFFFF], dtype=np.uint64)


def _token_keys(b: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Vectorised :func:`_token_key` of the tokens ``b[starts : starts + lengths]``."""
    padded = np.append(b, np.zeros(4, np.uint8))
    # Overlapping big-endian 4-byte windows: one gather reads each token's first 4 bytes.
    windows = np.ndarray((padded.size - 3,), dtype=">u4", buffer=padded, strides=(1,))
    head = windows[starts].astype(np.uint64) & _HEAD_MASK[np.minimum(lengths, 4)]
    return (np.minimum(lengths, 255).astype(np.uint64) << np.uint64(32)) | head


def _key_slot(keys: np.ndarray) -> np.ndarray:
    """Multiplicative hash of prefilter keys into the lookup table (collisions only add rows)."""
    with np.errstate(over="ignore"):
        return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _TABLE_BITS)).astype(
            np.intp
        )


def _ascii_buffer(arr: pa.Array) -> np.ndarray:
    """Vectorised normalisation of ASCII-only captions: rows between SEP bytes, one space between tokens."""
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
    b = np.insert(b, offsets[:-1] - offsets[0], SEP)
    b = np.append(b, np.uint8(SEP))
    apos = np.flatnonzero(b == APOS)
    if apos.size:
        inner = _ALNUM_LOWER[b[apos - 1]] & _ALNUM_LOWER[b[apos + 1]]
        b[apos[~inner]] = SPACE
    sp = b == SPACE
    keep = np.ones(b.size, dtype=bool)
    keep[1:] = ~(sp[1:] & sp[:-1])
    return b[keep]


def _python_codes(arr: pa.Array) -> tuple[str, np.ndarray, np.ndarray]:
    """Reference normalisation (:func:`tokenize`) for captions with non-ASCII characters."""
    rows = [" ".join(tokenize(t)) for t in arr.to_pylist()]
    text = "\x01" + "\x01".join(rows) + "\x01"
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return text, codes, np.arange(len(rows), dtype=np.int64)
