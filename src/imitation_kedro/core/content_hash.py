"""Content keys: the sha256 of a JSON-able value, keys sorted (caches and fingerprints)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def json_sha256(value: Any, default: Callable[[Any], Any] = str) -> str:
    """Hex sha256 of ``value`` as sorted-key JSON; ``default`` converts what JSON cannot hold."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=default).encode()).hexdigest()
