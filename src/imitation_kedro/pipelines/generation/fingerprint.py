"""Per-image fingerprints: everything that determines a generated image's pixels.

An image is reused on resume only when the fingerprint stored inside its PNG (text chunk
``imitation_kedro.render``, written by ``AtomicImageDataset``) equals the one the current
model and settings give it: the model's weights hash, pipeline class, scheduler class and
config, steps, guidance, size, dtype, negative prompt, safety checker, batch invariance, the
device kind, prompt and seed. Anything else (batch size, shard count) leaves it unchanged, so
the bytes stay identical whatever the batching.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from imitation_kedro.core.content_hash import json_sha256

RECORD_KEY = "imitation_kedro.render"
"""PNG text key (and ``image.info`` key) of the JSON render record."""

PIXELS_KEY = "imitation_kedro.pixels_sha256"
"""PNG text key of the image's :func:`pixels_sha256`, so resume needs no pixel decoding."""

DETERMINING = (
    "weights_sha256",
    "pipeline_class",
    "scheduler",
    "scheduler_config_sha256",
    "steps",
    "guidance_scale",
    "width",
    "height",
    "dtype",
    "negative_prompt",
    "safety_checker",
    "batch_invariant",
    "device_kind",
)
"""Model-level keys of the fingerprint; ``prompt`` and ``seed`` are added per image."""

RECORDED = (*DETERMINING, "device", "checkpoint", "diffusers_version", "torch_version")
"""Everything stored with an image (the manifest's settings columns come from here)."""


def fingerprint(model_record: dict[str, Any], prompt: str, seed: int) -> str:
    """SHA-256 (hex, 32 chars) of the determining settings, the prompt and the seed."""
    keyed = {k: model_record.get(k) for k in DETERMINING}
    keyed.update(prompt=str(prompt), seed=int(seed))
    return json_sha256(keyed)[:32]


def image_record(model_record: dict[str, Any], prompt: str, seed: int) -> dict[str, Any]:
    """The record stored inside one rendered PNG."""
    record = {k: model_record.get(k) for k in RECORDED}
    record.update(
        prompt=str(prompt), seed=int(seed), fingerprint=fingerprint(model_record, prompt, seed)
    )
    return record


def dump_record(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def read_record(image: Any) -> dict[str, Any] | None:
    """The render record an image carries, or ``None`` (none, or unreadable)."""
    text = getattr(image, "info", {}).get(RECORD_KEY)
    if not text:
        return None
    try:
        record = json.loads(text)
    except (TypeError, ValueError):
        return None
    return record if isinstance(record, dict) and "fingerprint" in record else None


def stale_reason(stored: dict[str, Any] | None, expected: dict[str, Any]) -> str:
    """Why an existing image cannot be reused ("" when it can): what differs, by name."""
    if stored is None:
        return "no render record in the file (made before fingerprints, or not by this project)"
    if stored.get("fingerprint") == expected["fingerprint"]:
        return ""
    changed = [k for k in (*DETERMINING, "prompt", "seed") if stored.get(k) != expected.get(k)]
    if "weights_sha256" in changed:
        return "model weights changed"
    return "settings changed: " + ", ".join(changed) if changed else "fingerprint differs"


def pixels_sha256(image: Any) -> str:
    """SHA-256 of an image's mode, size and pixel bytes (independent of PNG encoding)."""
    digest = hashlib.sha256(f"{image.mode}|{image.size}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
