"""Caption phrase matching: the analyser, concept patterns, and an all-concepts-in-one-pass scanner.

FIT §3.1 counts captions with Elasticsearch ``match_phrase`` on the standard analyser. The
analyser is ``frequency.matching.analyzer`` (:mod:`imitation_kedro.core.standard_analyzer`):

* ``standard`` (default, the paper's): Lucene's StandardAnalyzer, token for token (UAX#29 word
  boundaries, simple lower-casing, no stop words, no folding, no normalisation), checked against
  Lucene 8 itself. ``claude_monet_1890.jpg``, ``art:claude monet`` and ``Claude Monet's`` do
  not name "Claude Monet"; ``Claude-Monet``, ``CLAUDE MONET.`` and ``claude\u00a0monet`` do.
* ``loose``: the project's first rule (NFC, letter/digit runs); counts more; not the paper's.

A name matches a caption when its tokens occur consecutively and in order among the caption's
tokens. A concept counts at most once per caption, whichever of its name/aliases matched. A name
inside a longer concept name (``nested_names``): ``both`` (default, like ``match_phrase``) counts
the caption for both; ``longest`` drops an occurrence lying inside an occurrence of a
*different* concept's longer name (the caption still counts if the short name also occurs on
its own).

Speed (:mod:`~imitation_kedro.pipelines.frequency.scanner`): one Hyperscan pass over the chunk's
string buffer finds every phrase candidate; candidates the pattern decides exactly (simple names
in ASCII rows) are final, every other candidate row is tokenised by the analyser and matched
against all phrases (so the result is the analyser's, whatever the candidates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from imitation_kedro.core.standard_analyzer import ANALYZERS, analyzer

Tokenizer = Callable[[object], tuple[str, ...]]


class MatchingError(ValueError):
    """The concept table or a caption shard cannot be matched (names the culprit)."""


@dataclass(frozen=True)
class PatternTable:
    """Phrases to search: ``phrases[i]`` belongs to concept index ``owner[i]``."""

    concepts: tuple[str, ...]
    phrases: tuple[str, ...]  # analyser tokens joined by single spaces
    owner: np.ndarray  # int64, concept index per phrase
    analyzer: str = "standard"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"concept": [self.concepts[i] for i in self.owner], "phrase": list(self.phrases)}
        )

    @classmethod
    def from_frame(cls, phrases: pd.DataFrame, analyzer_name: str = "standard") -> PatternTable:
        """The table back from ``int_concept_phrases`` (concept, phrase; concepts in row order)."""
        names = tuple(pd.unique(phrases["concept"]))
        index = {c: i for i, c in enumerate(names)}
        owner = np.asarray([index[c] for c in phrases["concept"]], dtype=np.int64)
        return cls(names, tuple(phrases["phrase"]), owner, analyzer_name)


def tokenize(text: object, analyzer_name: str = "standard") -> tuple[str, ...]:
    """The analyser's tokens of ``text``."""
    return analyzer(analyzer_name)(text)


def normalise_phrase(text: object, analyzer_name: str = "standard") -> str:
    """A name's canonical form: its analyser tokens joined by single spaces."""
    return " ".join(tokenize(text, analyzer_name))


def build_patterns(
    concepts: pd.DataFrame, use_aliases: bool, analyzer_name: str = "standard"
) -> PatternTable:
    """Validate the concept table and list each concept's normalised phrases (``analyzer_name``).

    Errors (naming the concept): missing columns, empty or token-less names/aliases, two concepts
    with the same normalised name, one phrase shared by two concepts. A concept's alias that
    normalises to one of its own phrases is dropped (it would match the same captions).
    """
    if analyzer_name not in ANALYZERS:
        raise MatchingError(
            f"frequency.matching.analyzer must be one of {list(ANALYZERS)}, got {analyzer_name!r}"
        )
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
            norm = normalise_phrase(text, analyzer_name)
            what = "name" if k == 0 else "alias"
            if not norm:
                raise MatchingError(
                    f"concept {name!r}: {what} {text!r} has no {analyzer_name} analyser token "
                    "(no letters, digits or emoji) and can never match a caption"
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
    return PatternTable(
        tuple(names), tuple(phrases), np.asarray(owner, dtype=np.int64), analyzer_name
    )


class CaptionMatcher:
    """Find, for a batch of captions, every (row, concept) pair whose caption names the concept."""

    def __init__(
        self, patterns: PatternTable, nested_names: str = "both", hyperscan: str = "auto"
    ) -> None:
        """``hyperscan``: the scan backend (``frequency.matching.hyperscan``)."""
        from imitation_kedro.pipelines.frequency.scanner import PhraseScanner

        if nested_names not in ("both", "longest"):
            raise MatchingError(f"nested_names must be 'both' or 'longest', got {nested_names!r}")
        self.patterns = patterns
        self.nested_names = nested_names
        self.tokenize: Tokenizer = analyzer(patterns.analyzer)
        tokens = [tuple(p.split(" ")) for p in patterns.phrases]
        self._by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for toks, owner in zip(tokens, patterns.owner.tolist(), strict=True):
            self._by_first.setdefault(toks[0], []).append((toks, owner))
        self._loose = patterns.analyzer == "loose"
        # loose: a caption naming a phrase holds its longest token as an ASCII-caseless substring
        # (ASCII rows) -- non-ASCII rows are all verified.
        self._scanner = PhraseScanner(
            [(max(t, key=len),) for t in tokens] if self._loose else tokens,
            literal=self._loose,
            hyperscan=hyperscan,
        )

    @property
    def backend(self) -> str:
        """The Hyperscan backend the scans run on (``system`` or ``bundled``)."""
        return self._scanner.backend

    @property
    def n_concepts(self) -> int:
        return len(self.patterns.concepts)

    def match(
        self, texts: Sequence[object] | pa.Array | pa.ChunkedArray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return sorted unique ``(row, concept_index)`` int64 arrays for ``texts``.

        A chunked column is scanned chunk by chunk (each chunk's string buffer is contiguous), so
        it is never copied into one array.
        """
        rows_parts, conc_parts, base = [], [], 0
        for arr in _string_chunks(texts):
            if len(arr):
                rows, conc = self._match_array(arr)
                rows_parts.append(rows + base)
                conc_parts.append(conc)
            base += len(arr)
        if not rows_parts:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(rows_parts), np.concatenate(conc_parts)

    def _match_array(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        from imitation_kedro.pipelines.frequency.scanner import in_sorted, unique_int

        rows, pid, verify = self._scanner.scan(arr)
        if self._loose:
            other = np.flatnonzero(~pc.string_is_ascii(arr).to_numpy(zero_copy_only=False))
            rows = np.concatenate([rows, other])
            pid = np.concatenate([pid, np.zeros(other.size, np.int64)])
            verify = np.ones(rows.size, dtype=bool)
        owner = np.append(self.patterns.owner, 0)  # the scanner's verify-only rows
        conc = owner[pid]
        n = self.n_concepts
        if self.nested_names == "longest" and rows.size:
            key = unique_int(rows * n + conc)
            several = np.flatnonzero(np.bincount(key // n) > 1)
            verify = verify | in_sorted(rows, several)
        if verify.any():
            check = unique_int(rows[verify])
            keep = ~in_sorted(rows, check)
            texts_checked = arr.take(pa.array(check, type=pa.int64())).to_pylist()
            v_rows, v_conc = [], []
            for row, text in zip(check.tolist(), texts_checked, strict=True):
                for c in self.concepts_in(text):
                    v_rows.append(row)
                    v_conc.append(c)
            rows = np.concatenate([rows[keep], np.asarray(v_rows, dtype=np.int64)])
            conc = np.concatenate([conc[keep], np.asarray(v_conc, dtype=np.int64)])
        key = unique_int(rows * n + conc)
        return key // n, key % n

    def concepts_in(self, text: object) -> set[int]:
        """Concept indices named by one caption, by the analyser itself (the exact rule)."""
        tokens = self.tokenize(text)
        found: list[tuple[int, int, int]] = []  # (start token, length, concept)
        for i, tok in enumerate(tokens):
            for phrase, owner in self._by_first.get(tok, ()):
                if tokens[i : i + len(phrase)] == phrase:
                    found.append((i, len(phrase), owner))
        if self.nested_names == "longest":
            found = [
                (s, n, c)
                for s, n, c in found
                if not any(
                    c2 != c and n2 > n and s2 <= s and s + n <= s2 + n2 for s2, n2, c2 in found
                )
            ]
        return {c for _, _, c in found}


def _string_chunks(texts: object) -> list[pa.Array]:
    """``texts`` as contiguous (large_)string arrays, nulls as empty text (chunks kept apart)."""
    if isinstance(texts, pa.ChunkedArray):
        return [_as_string_array(chunk) for chunk in texts.chunks]
    return [_as_string_array(texts)]


def _as_string_array(texts: object) -> pa.Array:
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
    return pc.fill_null(texts, "") if texts.null_count else texts
