"""Typed parameters of the ``world`` pipeline (conf/<env>/parameters_world.yml, key ``world``).

Nodes take ``params:world.seed`` and one sub-block each (``params:world.concepts`` ...), typed by
the models below, which Kedro validates before any node runs; ``WorldParams`` (the whole block,
with the rule that spans sub-blocks) is checked at start-up by ``ParameterValidationHook``.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator, model_validator

from imitation_kedro.core.params import Params
from imitation_kedro.core.phrase_rule import normalise_phrase
from imitation_kedro.models.miniature_t2i_training import T2IParams

DEFAULT_SPECIAL_NAMES = [
    "Ray",
    "Ray Moss",
    "Zoë Brandt",
    "Élodie Varga",
    "Liam O'Dell",
    "D'Arcy Fenn",
    "Anna deVries",
    "Jürgen Holm",
    "MacKenzie Roe",
    "Søren Ek",
]


class ConceptParams(Params):
    """How many concepts, their names and their planted image frequencies."""

    n_concepts: int = Field(100, ge=2)
    domains: list[str] = Field(default_factory=lambda: ["style", "motif"], min_length=1)
    special_names: list[str] = Field(default_factory=lambda: list(DEFAULT_SPECIAL_NAMES))
    alias_rate: float = Field(0.4, ge=0, le=1)
    n_references: int = 12
    min_references: int = 10
    min_frequency: int = Field(1, ge=1)
    max_frequency: int = 10000

    @field_validator("domains")
    @classmethod
    def _distinct_domains(cls, domains: list[str]) -> list[str]:
        if len(set(domains)) != len(domains):
            raise ValueError(f"domains must be distinct: {domains}")
        return domains

    @field_validator("special_names")
    @classmethod
    def _distinct_names(cls, names: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for name in names:
            norm = normalise_phrase(name)
            if not norm:
                raise ValueError(f"{name!r} has no letters or digits")
            if norm in seen:
                raise ValueError(
                    f"{seen[norm]!r} and {name!r} are the same name after normalisation ({norm!r})"
                )
            seen[norm] = name
        return names

    @model_validator(mode="after")
    def _consistent(self) -> ConceptParams:
        if self.n_references < self.min_references:
            raise ValueError(
                f"n_references={self.n_references} is fewer than the {self.min_references} "
                "held-out references asked (min_references)"
            )
        if self.min_frequency > self.max_frequency:
            raise ValueError(
                "min_frequency/max_frequency must satisfy 1 <= min <= max, got "
                f"{self.min_frequency}/{self.max_frequency}"
            )
        if len(self.special_names) > self.n_concepts:
            raise ValueError(
                f"special_names has {len(self.special_names)} names but n_concepts is "
                f"{self.n_concepts}"
            )
        return self

    def frequencies(self) -> list[int]:
        """Planted image counts, log-spaced from min to max (one per concept, ascending)."""
        n, lo, hi = self.n_concepts, self.min_frequency, self.max_frequency
        ratio = math.log(hi / lo)
        return [int(round(lo * math.exp(ratio * i / (n - 1)))) for i in range(n)]


class CorpusParams(Params):
    """The LAION-like corpus: size, sharding and the traps a real corpus has."""

    n_rows: int = 200000
    rows_per_shard: int = Field(50000, ge=1)
    background_image_rows: int = 4000
    mismatch_rate: float = Field(0.03, ge=0, le=1)
    unnamed_rate: float = Field(0.03, ge=0, le=1)
    alias_caption_rate: float = Field(0.3, ge=0, le=1)
    duplicate_rate: float = Field(0.02, ge=0, le=1)
    empty_caption_rate: float = Field(0.01, ge=0, le=1)
    foreign_caption_rate: float = Field(0.02, ge=0, le=1)
    case_variant_rate: float = Field(0.2, ge=0, le=1)
    image_size: int = 32
    noise: float = 0.05

    @field_validator("image_size")
    @classmethod
    def _supported_size(cls, size: int) -> int:
        if size != 32:
            raise ValueError(f"only 32 is supported, got {size}")
        return size


class ClipParams(Params):
    """The miniature CLIP (open_clip custom config) and its contrastive training."""

    embed_dim: int = 64
    vision_width: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    patch_size: int = 8
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 32
    freeze_token_embedding: bool = True
    steps: int = 300
    batch_size: int = 256
    learning_rate: float = 2e-3


class ReportParams(Params):
    """How the world report measures imitation (generations vs references, miniature CLIP)."""

    images_per_concept: int = Field(8, ge=1)
    guidance_scale: float = 4.0
    num_inference_steps: int = 20
    prompt_template: str = "an image of {name}"
    min_retrieval_rate: float = 0.5
    min_rho: float = 0.5

    @field_validator("prompt_template")
    @classmethod
    def _has_name_slot(cls, template: str) -> str:
        if "{name}" not in template:
            raise ValueError(f"must contain {{name}}: {template!r}")
        return template


class WorldParams(Params):
    """All ``world`` parameters."""

    seed: int = 20240601
    concepts: ConceptParams = Field(default_factory=ConceptParams)
    corpus: CorpusParams = Field(default_factory=CorpusParams)
    clip: ClipParams = Field(default_factory=ClipParams)
    t2i: T2IParams = Field(default_factory=T2IParams)
    report: ReportParams = Field(default_factory=ReportParams)

    @model_validator(mode="after")
    def _corpus_holds_the_concepts(self) -> WorldParams:
        freqs = self.concepts.frequencies()
        named = sum(freqs)
        traps = sum(
            int(round(f * self.corpus.mismatch_rate)) + int(round(f * self.corpus.unnamed_rate))
            for f in freqs
        )
        need = named + traps + self.corpus.background_image_rows
        if self.concepts.max_frequency > self.corpus.n_rows or need > self.corpus.n_rows:
            raise ValueError(
                f"concepts.max_frequency={self.concepts.max_frequency}: the planted frequencies "
                f"need {named} concept rows (+{traps} trap rows, "
                f"+{self.corpus.background_image_rows} corpus.background_image_rows) but "
                f"corpus.n_rows is {self.corpus.n_rows}"
            )
        return self
