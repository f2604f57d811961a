"""The caption phrase-match rule: the one reference semantics for "a caption names a concept".

FIT counts captions with Elasticsearch ``match_phrase`` on the standard analyser (fit.md §3.1).
The world's ground truth and the ``frequency`` pipeline (its default ``analyzer: standard``)
share that rule, so they agree by construction:

* Tokens are Lucene StandardAnalyzer tokens (:mod:`imitation_kedro.core.standard_analyzer`,
  checked against Lucene itself): UAX#29 words, lower-cased, no accent folding, no
  normalisation. ``_``, ``.``, ``:`` and ``'`` between letters stay inside a token
  ("claude_monet", "art:claude", "ray's" do not match "Claude"/"Ray"); other punctuation,
  spaces and NBSP split.
* A phrase matches when its tokens occur consecutively and in order in the caption's tokens.
* A concept matches a caption when its name or any alias matches; a concept is counted at most
  once per caption. A shorter name inside a longer one ("Ray" in "Ray Moss") matches both, like
  ``match_phrase``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from imitation_kedro.core.standard_analyzer import standard_tokens


def tokenize(text: object) -> tuple[str, ...]:
    """Lower-cased StandardAnalyzer tokens of ``text`` (empty for ``None``, NaN or empty text)."""
    return standard_tokens(text)


def normalise_phrase(phrase: object) -> str:
    """The canonical form of a name: its tokens joined by single spaces (duplicate detection)."""
    return " ".join(tokenize(phrase))


def phrase_in_tokens(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    """True when ``phrase`` occurs consecutively, in order, in ``tokens``."""
    n = len(phrase)
    if n == 0:
        return False
    first = phrase[0]
    for i in range(len(tokens) - n + 1):
        if tokens[i] == first and tokens[i : i + n] == phrase:
            return True
    return False


def matches(caption: object, phrase: str) -> bool:
    """True when ``caption`` names ``phrase`` under the rule above."""
    return phrase_in_tokens(tokenize(caption), tokenize(phrase))


class PhraseMatcher:
    """Match many captions against many concepts (each with its name and aliases) at once.

    Phrases are indexed by their first token, so one caption costs one dict lookup per token.
    """

    def __init__(self, names: Mapping[str, Iterable[str]]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        self.concepts = list(names)
        for concept, phrases in names.items():
            for phrase in phrases:
                toks = tokenize(phrase)
                if not toks:
                    raise ValueError(
                        f"concept {concept!r}: name/alias {phrase!r} has no analyser token "
                        "and can never match a caption"
                    )
                self._by_first.setdefault(toks[0], []).append((toks, concept))

    def concepts_in(self, caption: str | None) -> set[str]:
        """The concepts whose name or an alias occurs in ``caption`` (each at most once)."""
        tokens = tokenize(caption)
        found: set[str] = set()
        for i, tok in enumerate(tokens):
            for phrase, concept in self._by_first.get(tok, ()):
                if concept not in found and tokens[i : i + len(phrase)] == phrase:
                    found.add(concept)
        return found

    def count(self, captions: Iterable[str | None]) -> dict[str, int]:
        """Per concept, how many captions name it (a caption counts once per concept)."""
        counts = dict.fromkeys(self.concepts, 0)
        for caption in captions:
            for concept in self.concepts_in(caption):
                counts[concept] += 1
        return counts
