"""Concept names -> safe path components."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """ASCII, lower-case, ``-``-separated; never empty, never ``.``/``..``, no separators."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"cannot slug an empty concept name: {name!r}")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NON_WORD.sub("-", ascii_name.lower()).strip("-")
    if not slug:
        # Names with no ASCII letters (e.g. CJK) still need a stable, safe slug.
        slug = "c-" + name.encode("utf-8").hex()[:16]
    return slug


def unique_slugs(names: list[str]) -> dict[str, str]:
    """Map each name to its slug; raise naming both concepts when two names slug alike."""
    seen: dict[str, str] = {}
    out: dict[str, str] = {}
    for name in names:
        slug = slugify(name)
        if slug in seen and seen[slug] != name:
            raise ValueError(
                f"concepts {seen[slug]!r} and {name!r} both slug to {slug!r}; rename one of them"
            )
        seen[slug] = name
        out[name] = slug
    return out
