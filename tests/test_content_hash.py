"""Content keys: stable across key order, sensitive to values, the digest caches were built with."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imitation_kedro.core.content_hash import json_sha256


def test_key_order_does_not_change_the_key_but_a_value_does() -> None:
    assert json_sha256({"a": 1, "b": [1, 2]}) == json_sha256({"b": [1, 2], "a": 1})
    assert json_sha256({"a": 1, "b": [1, 2]}) != json_sha256({"a": 1, "b": [2, 1]})


def test_digest_is_the_sorted_json_sha256_existing_caches_were_keyed_on() -> None:
    expected = hashlib.sha256(b'{"a": "x/y", "b": 2}').hexdigest()
    assert json_sha256({"b": 2, "a": Path("x/y")}) == expected  # default=str for paths
    assert json_sha256({"s": (1, 2)}, default=list) == hashlib.sha256(b'{"s": [1, 2]}').hexdigest()
