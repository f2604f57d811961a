"""The concept catalogue (names, aliases, domains, planted frequencies) and its reference images."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from imitation_kedro.core.phrase_rule import normalise_phrase
from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.core.slugs import unique_slugs
from imitation_kedro.pipelines.world.names import generate_names, make_alias
from imitation_kedro.pipelines.world.params import ConceptParams
from imitation_kedro.pipelines.world.render import random_spec, render, to_png

SPEC_COLUMNS = ["concept", "slug", "domain", "aliases", "planted_frequency", "spec"]


def draw_concepts(seed: int, cp: ConceptParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the concept catalogue from the world seed.

    Returns the internal specs (with planted frequency and render parameters, JSON) and the
    public ``raw_concepts`` table (concept, slug, domain, aliases).
    """
    rng = np.random.default_rng(stable_seed(seed, "world", "names"))
    names = generate_names(list(cp.special_names), cp.n_concepts, rng)
    slugs = unique_slugs(names)
    # Frequencies: log-spaced, assigned to concepts by a seeded permutation.
    freqs = np.asarray(cp.frequencies(), dtype=np.int64)
    freqs = freqs[rng.permutation(len(freqs))]
    taken = {normalise_phrase(n) for n in names}
    rows = []
    for i, name in enumerate(names):
        domain = cp.domains[i % len(cp.domains)]
        aliases: list[str] = []
        if rng.random() < cp.alias_rate:
            alias = make_alias(name, taken)
            if alias is not None:
                taken.add(normalise_phrase(alias))
                aliases.append(alias)
        spec_rng = np.random.default_rng(stable_seed(seed, "world", "spec", name))
        rows.append(
            {
                "concept": name,
                "slug": slugs[name],
                "domain": domain,
                "aliases": aliases,
                "planted_frequency": int(freqs[i]),
                "spec": json.dumps(random_spec(domain, spec_rng), sort_keys=True),
            }
        )
    specs = pd.DataFrame(rows, columns=SPEC_COLUMNS)
    concepts = specs[["concept", "slug", "domain", "aliases"]].copy()
    return specs, concepts


def render_references(specs: pd.DataFrame, seed: int, cp: ConceptParams, noise: float) -> pd.DataFrame:
    """Render each concept's held-out reference set (never part of the corpus)."""
    n_refs = cp.n_references
    rows = []
    for concept, spec in zip(specs["concept"], specs["spec"], strict=True):
        rng = np.random.default_rng(stable_seed(seed, "world", "references", concept))
        pixels = render(json.loads(spec), n_refs, rng, noise)
        for k in range(n_refs):
            rows.append({"concept": concept, "ref_index": k, "png": to_png(pixels[k])})
    refs = pd.DataFrame(rows, columns=["concept", "ref_index", "png"])
    counts = refs.groupby("concept").size()
    short = counts[counts < cp.min_references]
    if len(short):
        raise ValueError(
            f"concepts {list(short.index)} have fewer than concepts.min_references="
            f"{cp.min_references} reference images"
        )
    return refs
