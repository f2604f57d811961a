"""Prompt table: concepts x domain templates x image indices, each row with its seed and path."""

from __future__ import annotations

import pandas as pd

from imitation_kedro.core.prompting import check_template, fill_template, image_seed  # noqa: F401
from imitation_kedro.core.slugs import slugify, unique_slugs

PROMPT_COLUMNS = [
    "model",
    "concept",
    "slug",
    "domain",
    "prompt_id",
    "prompt",
    "index",
    "seed",
    "path",
]


def partition_id(model: str, slug: str, prompt_id: int, index: int) -> str:
    """The image's partition id: ``{model}/{slug}/{prompt_id}/{index:04d}`` (contract)."""
    return f"{model}/{slug}/{prompt_id}/{index:04d}"


def validate_concepts(concepts: pd.DataFrame) -> pd.DataFrame:
    """Check the ``raw_concepts`` contract columns and slugs; return ``concept, slug, domain``."""
    missing = [c for c in ("concept", "domain") if c not in concepts.columns]
    if missing:
        raise ValueError(f"raw_concepts lacks column(s) {missing}; has {list(concepts.columns)}")
    if concepts.empty:
        raise ValueError("raw_concepts is empty: no concept to generate")
    names = concepts["concept"].tolist()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"raw_concepts lists concept(s) more than once: {dupes[:5]}")
    slugs = unique_slugs(names)  # raises naming both concepts when two names slug alike
    if "slug" in concepts.columns:
        for name, given in zip(names, concepts["slug"], strict=True):
            if given != slugs[name]:
                raise ValueError(
                    f"raw_concepts: concept {name!r} has slug {given!r} but slugify gives "
                    f"{slugs[name]!r}; paths must come from imitation_kedro.core.slugs.slugify"
                )
    out = concepts[["concept", "domain"]].copy()
    out["slug"] = [slugs[n] for n in names]
    return out


def build_prompt_rows(
    concepts: pd.DataFrame,
    templates: dict[str, list[str]],
    model: str,
    images_per_prompt: int,
    seed_mode: str,
) -> pd.DataFrame:
    """One row per (model, concept, prompt_id, index), sorted by partition id."""
    if images_per_prompt < 1:
        raise ValueError(f"images_per_prompt must be >= 1, got {images_per_prompt}")
    if slugify(model) != model.replace("_", "-"):
        raise ValueError(f"model id {model!r} is not path-safe")
    table = validate_concepts(concepts)
    unknown = sorted(set(table["domain"]) - set(templates))
    if unknown:
        first = table.loc[table["domain"] == unknown[0], "concept"].iloc[0]
        raise ValueError(
            f"no prompt templates for domain(s) {unknown} (e.g. concept {first!r}); "
            f"add generation.templates.<domain>; have {sorted(templates)}"
        )
    rows = []
    for concept, slug, domain in table[["concept", "slug", "domain"]].itertuples(index=False):
        for prompt_id, template in enumerate(templates[domain]):
            prompt = fill_template(template, concept)
            for index in range(images_per_prompt):
                rows.append(
                    (
                        model,
                        concept,
                        slug,
                        domain,
                        prompt_id,
                        prompt,
                        index,
                        image_seed(seed_mode, model, concept, prompt_id, index),
                        partition_id(model, slug, prompt_id, index),
                    )
                )
    out = pd.DataFrame(rows, columns=PROMPT_COLUMNS)
    out = out.astype({"prompt_id": "int64", "index": "int64", "seed": "int64"})
    return out.sort_values("path", kind="stable").reset_index(drop=True)
