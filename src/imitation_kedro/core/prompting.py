"""Prompt templates and image seeds (FIT section 4), shared by generation and counterfactual."""

from __future__ import annotations

import string

from imitation_kedro.core.seeding import stable_seed


def check_template(template: str) -> None:
    """Raise ``ValueError`` naming ``template`` unless it has a ``{concept}`` slot and no other."""
    if not isinstance(template, str):
        raise ValueError(f"template {template!r} is not a string")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"template {template!r} is malformed: {exc}") from None
    if "concept" not in fields:
        raise ValueError(f"template {template!r} has no {{concept}} slot")
    other = sorted(set(fields) - {"concept"})
    if other:
        raise ValueError(f"template {template!r} has unknown slot(s) {other}; only {{concept}}")


def fill_template(template: str, concept: str) -> str:
    """``template`` with every ``{concept}`` replaced by the concept's display name."""
    check_template(template)
    return template.format(concept=concept)


def image_seed(seed_mode: str, model: str, concept: str, prompt_id: int, index: int) -> int:
    """Seed of one image: the index (paper, FIT §4 / rule F2) or a stable hash of its keys."""
    if seed_mode == "paper":
        return int(index)
    if seed_mode == "hashed":
        return stable_seed(model, concept, int(prompt_id), int(index))
    raise ValueError(f"seed_mode {seed_mode!r} is not 'paper' or 'hashed'")
