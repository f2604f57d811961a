"""One Hyperscan pass over a chunk's Arrow string buffer for all phrases (``standard`` analyser).

Each phrase (its analyser tokens) becomes one byte-level pattern: every token character matches
any code point whose simple lower case is that character, and between and around the tokens the
pattern encodes UAX#29's word-boundary rules for ASCII text (``_`` and letters/digits join,
``. : '`` join letters, ``. , ; '`` join digits). The rows of a chunk are scanned as one buffer,
separated by ``0xFF`` bytes (never valid UTF-8, and outside every separator class, so no match
crosses a row).

What is exact and what is verified:

* A *simple* phrase (its outer characters and the characters on each side of a token gap are
  ASCII letters/digits, the usual case) matched in an ASCII-only row is a Lucene match: the
  pattern is exactly the analyser's rule there, except before the first token, where it lets a
  joining middle character through (``art:claude``); one pattern per first token flags the rows
  where that happens, and they are verified.
* Every other candidate (a row with a non-ASCII byte, or a phrase with other edge characters) is
  a superset match, verified by tokenising the row with the analyser itself.
* The two non-ASCII code points whose lower case is ASCII (KELVIN SIGN -> ``k``, ``İ`` -> ``i``)
  are left out of the phrase patterns (their multi-byte alternatives make every pattern slower);
  one extra pattern flags the rare rows holding them, and those rows are verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imitation_kedro.core.standard_analyzer import lower_table

HS_FLAG_CASELESS = 1  # Hyperscan's flag value, the same in libhs and the wheel
ROW_MARK = b"\xff"
# Bytes that can be part of a token. A token longer than Lucene's 255 UTF-16 units (so at least
# 256 bytes) is cut by Lucene into pieces the patterns do not see: rows with such a run of these
# bytes are verified.
_IN_TOKEN = np.zeros(256, dtype=bool)
_IN_TOKEN[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:',;")] = True
_IN_TOKEN[0x80:0xFF] = True
LONG_RUN = 256


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


@lru_cache(maxsize=1)
def _preimages() -> dict[str, tuple[str, ...]]:
    """Lower-case character -> the other code points that lower-case to it."""
    inv: dict[str, list[str]] = {}
    for src, dst in lower_table().items():
        inv.setdefault(chr(dst), []).append(chr(src))
    return {k: tuple(sorted(v)) for k, v in inv.items()}


@lru_cache(maxsize=1)
def rare_case_forms() -> tuple[str, ...]:
    """Non-ASCII code points whose simple lower case is ASCII (left out of phrase patterns)."""
    return tuple(sorted(chr(src) for src, dst in lower_table().items() if dst < 0x80 <= src))


def unique_int(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` for int64 keys that arrive almost sorted (a stable sort is ~100x faster)."""
    keys = np.sort(keys, kind="stable")
    if keys.size < 2:
        return keys
    new = np.empty(keys.size, dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    return keys[new]


def in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_keys)`` by binary search (``np.isin`` sorts again, ~30x slower)."""
    if not sorted_keys.size:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
    return sorted_keys[at] == values


def _bytes_re(text: str) -> str:
    return "".join(f"\\x{b:02x}" for b in text.encode("utf-8"))


@cache
def _char_re(ch: str) -> str:
    options = (ch, *_preimages().get(ch, ()))
    if ch.isascii():  # the rare non-ASCII forms are flagged by their own pattern
        options = tuple(o for o in options if o.isascii())
    if all(len(o.encode("utf-8")) == 1 for o in options):
        return "[" + "".join(_bytes_re(o) for o in options) + "]"
    return "(?:" + "|".join(_bytes_re(o) for o in options) + ")"


def _mids(ch: str) -> str:
    """ASCII characters that join two ``ch``-like characters (UAX#29 WB6/7, WB11/12)."""
    return ".:'" if ch.isalpha() else ".,;'"


def _gap_re(left: str, right: str) -> str:
    """Bytes between two tokens whose facing characters are ``left`` and ``right``."""
    if not (_ascii_alnum(left) and _ascii_alnum(right)):
        return r"[^A-Za-z0-9\xff]*"
    single = r"[^A-Za-z0-9_\xff"
    if left.isalpha() == right.isalpha():
        single += "".join(f"\\x{ord(c):02x}" for c in _mids(left))
    single += "]"
    edge = r"[^A-Za-z0-9_\xff]"
    return f"(?:{single}|{edge}[^A-Za-z0-9\\xff]*{edge})"


def _edge_re(ch: str, before: bool) -> str:
    """The byte(s) before/after a token edge character ``ch`` (an ASCII letter or digit).

    Before the phrase the pattern allows a joining character (``x.kalo``: one token); the rows
    where that happens are flagged by :func:`_joined_lead_re`'s patterns and verified (the exact
    two-byte rule there made every pattern ~15 % slower).
    """
    if before:
        return "[^A-Za-z0-9_]"
    mids = "".join(f"\\x{ord(c):02x}" for c in _mids(ch))
    same = "A-Za-z" if ch.isalpha() else "0-9"
    return f"(?:[^A-Za-z0-9_{mids}]|[{mids}][^{same}])"


def _joined_lead_re(token: str) -> str:
    """``token`` joined to the character before it by a middle character (``x.kalo``, ``5,5``)."""
    mids = "".join(f"\\x{ord(c):02x}" for c in _mids(token[0]))
    same = "A-Za-z" if token[0].isalpha() else "0-9"
    return f"[{same}][{mids}]" + "".join(_char_re(ch) for ch in token)


def phrase_pattern(tokens: Sequence[str]) -> tuple[str, bool]:
    """The Hyperscan pattern of a phrase's tokens and whether the phrase is simple (see above)."""
    simple = _ascii_alnum(tokens[0][0]) and _ascii_alnum(tokens[-1][-1])
    parts = [_edge_re(tokens[0][0], before=True)] if simple else []
    for k, tok in enumerate(tokens):
        if k:
            left, right = tokens[k - 1][-1], tok[0]
            simple = simple and _ascii_alnum(left) and _ascii_alnum(right)
            parts.append(_gap_re(left, right))
        parts.append("".join(_char_re(ch) for ch in tok))
    if _ascii_alnum(tokens[-1][-1]) and _ascii_alnum(tokens[0][0]):
        parts.append(_edge_re(tokens[-1][-1], before=False))
    return "".join(parts), simple


def scanner_patterns(
    phrase_tokens: Sequence[Sequence[str]], literal: bool = False
) -> tuple[list[bytes], list[int], np.ndarray]:
    """The Hyperscan expressions and flags of :class:`PhraseScanner`, and which phrases are simple.

    Ids: ``0..n-1`` the phrases; ``n`` a row holding a rare case form (see the module docstring);
    above ``n`` a simple phrase's first token joined to the character before it (``_edge_re``).
    Both extra kinds only mark rows to verify. ``literal``: each phrase is its first token as one
    ASCII-caseless substring (a prefilter; every candidate is verified).
    """
    if literal:
        exprs = [_bytes_re(t[0]).encode("ascii") for t in phrase_tokens]
        return exprs, [HS_FLAG_CASELESS] * len(exprs), np.zeros(len(exprs), dtype=bool)
    built = [phrase_pattern(t) for t in phrase_tokens]
    simple = np.asarray([s for _, s in built], dtype=bool)
    exprs = [p for p, _ in built]
    exprs.append("|".join(_bytes_re(c) for c in rare_case_forms()))
    leads = {t[0] for t, s in zip(phrase_tokens, simple, strict=True) if s}
    exprs += [_joined_lead_re(tok) for tok in sorted(leads)]
    return [p.encode("ascii") for p in exprs], [0] * len(exprs), simple


class PhraseScanner:
    """All phrases in one Hyperscan database; :meth:`scan` gives candidate (row, phrase) pairs."""

    def __init__(
        self,
        phrase_tokens: Sequence[Sequence[str]],
        literal: bool = False,
        hyperscan: str = "auto",
    ) -> None:
        """``literal``: each phrase is one ASCII-caseless substring (a prefilter; all verified).

        ``hyperscan``: the backend (:mod:`~imitation_kedro.pipelines.frequency.hyperscan_backends`).
        """
        from imitation_kedro.pipelines.frequency.hyperscan_backends import open_database

        expressions, flags, simple = scanner_patterns(phrase_tokens, literal)
        self.n = len(phrase_tokens)
        self.simple = simple
        self._db = open_database(expressions, flags, hyperscan)

    @property
    def backend(self) -> str:
        """``system`` or ``bundled``: the Hyperscan backend this scanner runs on."""
        return self._db.name

    def scan(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate ``(row, phrase)`` pairs of ``arr`` (sorted) and whether each needs verification.

        ``phrase == n_phrases`` marks a row to verify that has no candidate (a long token run or
        a rare case form).
        """
        data, marks = marked_buffer(arr)
        packed = self._db.scan(data) if len(arr) else np.empty(0, np.int64)
        long_rows = _long_run_rows(data, marks)
        if not packed.size and not long_rows.size:
            empty = np.empty(0, np.int64)
            return empty, empty, np.empty(0, bool)
        n = self.n
        # A match's last byte lies inside its row or is the mark after it (a trailing edge).
        rows = np.searchsorted(marks[1:], (packed >> 32) - 1, side="left")
        ids = packed & 0xFFFFFFFF
        joined = ids > n
        joined_rows = unique_int(rows[joined])
        if joined_rows.size:
            rows, ids = rows[~joined], ids[~joined]
        key = unique_int(np.concatenate([rows * (n + 1) + ids, long_rows * (n + 1) + n]))
        rows, pid = key // (n + 1), key % (n + 1)
        first = np.ones(rows.size, dtype=bool)  # rows are sorted: one flag per distinct row
        first[1:] = rows[1:] != rows[:-1]
        hit_rows = rows[first]
        # Highest byte of each hit row (between its two row marks): >= 0x80 means non-ASCII.
        bounds = np.stack([marks[hit_rows] + 1, marks[hit_rows + 1]], axis=1).ravel()
        top = np.maximum.reduceat(np.frombuffer(data, dtype=np.uint8), bounds)[::2]
        ascii_hit = np.repeat(top < 0x80, np.diff(np.append(np.flatnonzero(first), rows.size)))
        verify = ~(ascii_hit & np.append(self.simple, False)[pid])
        for flagged in (long_rows, joined_rows):
            if flagged.size:
                verify |= in_sorted(rows, flagged)
        return rows, pid, verify


def marked_buffer(arr: pa.Array) -> tuple[memoryview, np.ndarray]:
    """``arr``'s rows in one buffer with a row mark before, between and after them, and each
    mark's position: row ``i`` is ``buffer[marks[i] + 1 : marks[i + 1]]`` (nulls must be filled).

    One ``binary_join`` of the rows as a single list: a single copy of the data (a per-row
    element-wise join was 4x slower).
    """
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    kind, width = (pa.large_binary(), np.int64) if large else (pa.binary(), np.int32)
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    # The rows with an empty row before and after, over the same data buffer (not copied).
    edged = np.concatenate([offsets[:1], offsets, offsets[-1:]])
    values = pa.Array.from_buffers(
        kind, len(arr) + 2, [None, pa.py_buffer(edged), arr.buffers()[2]]
    )
    lists = (pa.LargeListArray if large else pa.ListArray).from_arrays(
        pa.array([0, len(values)], pa.from_numpy_dtype(width)), values
    )
    joined = pc.binary_join(lists, pa.scalar(ROW_MARK, kind))
    marks = offsets.astype(np.int64) - int(offsets[0]) + np.arange(len(arr) + 1, dtype=np.int64)
    if marks[-1] >= 1 << 31:
        raise ValueError(
            f"a caption chunk of {marks[-1]:,} bytes is too large to scan at once (limit 2 GiB): "
            "lower frequency.matching.batch_rows"
        )
    return memoryview(joined.buffers()[2])[: marks[-1] + 1], marks


def _long_run_rows(data: memoryview, marks: np.ndarray) -> np.ndarray:
    """Rows holding a run of at least 256 token bytes (only rows that long are looked at)."""
    longer = np.flatnonzero(np.diff(marks) - 1 >= LONG_RUN)
    if not longer.size:
        return longer.astype(np.int64)
    lo, hi = marks[longer[0]], marks[longer[-1] + 1] + 1
    run = np.frombuffer(data, dtype=np.uint8)[lo:hi]
    breaks = np.flatnonzero(~_IN_TOKEN[run]) + lo  # row marks are breaks: no run spans two rows
    starts = breaks[:-1][np.diff(breaks) > LONG_RUN]
    return np.unique(np.searchsorted(marks, starts, side="right") - 1).astype(np.int64)
