"""Typed parameters of the ``world`` pipeline (conf/<env>/parameters_world.yml, key ``world``).

Nodes take ``params:world.seed`` and one sub-block each (``params:world.concepts`` ...), typed by
the classes below; ``WorldParams`` (the whole block, with the rules that span sub-blocks) is
checked at start-up by ``ParameterValidationHook``. No node takes the whole typed block: Kedro
cannot type a block and one of its sub-blocks in the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from imitation_kedro.core.params import ParameterError, Params
from imitation_kedro.core.phrase_rule import normalise_phrase

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


@dataclass(frozen=True)
class ConceptParams(Params):
    """How many concepts, their names and their planted image frequencies."""

    _where = "world.concepts"  # named in errors when Kedro builds the sub-block alone

    n_concepts: int = 100
    domains: list[str] = field(default_factory=lambda: ["style", "motif"])
    special_names: list[str] = field(default_factory=lambda: list(DEFAULT_SPECIAL_NAMES))
    alias_rate: float = 0.4
    n_references: int = 12
    min_references: int = 10
    min_frequency: int = 1
    max_frequency: int = 10000

    def validate(self) -> None:
        if self.n_concepts < 2:
            raise ParameterError(f"concepts.n_concepts must be >= 2, got {self.n_concepts}")
        if not self.domains or len(set(self.domains)) != len(self.domains):
            raise ParameterError(f"concepts.domains must be distinct and non-empty: {self.domains}")
        if self.n_references < self.min_references:
            raise ParameterError(
                f"concepts.n_references={self.n_references} is fewer than the "
                f"{self.min_references} held-out references asked (concepts.min_references)"
            )
        if not 1 <= self.min_frequency <= self.max_frequency:
            raise ParameterError(
                "concepts.min_frequency/max_frequency must satisfy 1 <= min <= max, got "
                f"{self.min_frequency}/{self.max_frequency}"
            )
        if not 0.0 <= self.alias_rate <= 1.0:
            raise ParameterError(f"concepts.alias_rate must be in [0, 1], got {self.alias_rate}")
        if len(self.special_names) > self.n_concepts:
            raise ParameterError(
                f"concepts.special_names has {len(self.special_names)} names but "
                f"concepts.n_concepts is {self.n_concepts}"
            )
        seen: dict[str, str] = {}
        for name in self.special_names:
            norm = normalise_phrase(name)
            if not norm:
                raise ParameterError(f"concepts.special_names: {name!r} has no letters or digits")
            if norm in seen:
                raise ParameterError(
                    f"concepts.special_names: {seen[norm]!r} and {name!r} are the same name after "
                    f"normalisation ({norm!r})"
                )
            seen[norm] = name

    def frequencies(self) -> list[int]:
        """Planted image counts, log-spaced from min to max (one per concept, ascending)."""
        n, lo, hi = self.n_concepts, self.min_frequency, self.max_frequency
        ratio = math.log(hi / lo)
        return [int(round(lo * math.exp(ratio * i / (n - 1)))) for i in range(n)]


@dataclass(frozen=True)
class CorpusParams(Params):
    """The LAION-like corpus: size, sharding and the traps a real corpus has."""

    _where = "world.corpus"  # named in errors when Kedro builds the sub-block alone

    n_rows: int = 200000
    rows_per_shard: int = 50000
    background_image_rows: int = 4000
    mismatch_rate: float = 0.03
    unnamed_rate: float = 0.03
    alias_caption_rate: float = 0.3
    duplicate_rate: float = 0.02
    empty_caption_rate: float = 0.01
    foreign_caption_rate: float = 0.02
    case_variant_rate: float = 0.2
    image_size: int = 32
    noise: float = 0.05

    def validate(self) -> None:
        for key in (
            "mismatch_rate",
            "unnamed_rate",
            "alias_caption_rate",
            "duplicate_rate",
            "empty_caption_rate",
            "foreign_caption_rate",
            "case_variant_rate",
        ):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ParameterError(f"corpus.{key} must be in [0, 1], got {value}")
        if self.rows_per_shard < 1:
            raise ParameterError(f"corpus.rows_per_shard must be >= 1, got {self.rows_per_shard}")
        if self.image_size != 32:
            raise ParameterError(f"corpus.image_size: only 32 is supported, got {self.image_size}")


@dataclass(frozen=True)
class ClipParams(Params):
    """The miniature CLIP (open_clip custom config) and its contrastive training."""

    _where = "world.clip"  # named in errors when Kedro builds the sub-block alone

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


@dataclass(frozen=True)
class T2IParams(Params):
    """The miniature latent text-to-image model and its training."""

    _where = "world.t2i"  # named in errors when Kedro builds the sub-block alone

    latent_dim: int = 64
    pca_fit_rows: int = 20000
    hidden: int = 256
    blocks: int = 3
    steps: int = 1000
    batch_size: int = 256
    learning_rate: float = 1e-3
    caption_dropout: float = 0.1
    train_timesteps: int = 1000

    def validate(self) -> None:
        if not 0.0 <= self.caption_dropout < 1.0:
            raise ParameterError(f"t2i.caption_dropout must be in [0, 1), got {self.caption_dropout}")


@dataclass(frozen=True)
class ReportParams(Params):
    """How the world report measures imitation (generations vs references, miniature CLIP)."""

    _where = "world.report"  # named in errors when Kedro builds the sub-block alone

    images_per_concept: int = 8
    guidance_scale: float = 4.0
    num_inference_steps: int = 20
    prompt_template: str = "an image of {name}"
    min_retrieval_rate: float = 0.5
    min_rho: float = 0.5

    def validate(self) -> None:
        if "{name}" not in self.prompt_template:
            raise ParameterError(f"report.prompt_template must contain {{name}}: {self.prompt_template!r}")
        if self.images_per_concept < 1:
            raise ParameterError(f"report.images_per_concept must be >= 1, got {self.images_per_concept}")


@dataclass(frozen=True)
class WorldParams(Params):
    """All ``world`` parameters."""

    _where = "world"

    seed: int = 20240601
    concepts: ConceptParams = field(default_factory=ConceptParams)
    corpus: CorpusParams = field(default_factory=CorpusParams)
    clip: ClipParams = field(default_factory=ClipParams)
    t2i: T2IParams = field(default_factory=T2IParams)
    report: ReportParams = field(default_factory=ReportParams)

    def validate(self) -> None:
        freqs = self.concepts.frequencies()
        named = sum(freqs)
        traps = sum(
            int(round(f * self.corpus.mismatch_rate)) + int(round(f * self.corpus.unnamed_rate))
            for f in freqs
        )
        need = named + traps + self.corpus.background_image_rows
        if self.concepts.max_frequency > self.corpus.n_rows or need > self.corpus.n_rows:
            raise ParameterError(
                f"concepts.max_frequency={self.concepts.max_frequency}: the planted frequencies need "
                f"{named} concept rows (+{traps} trap rows, +{self.corpus.background_image_rows} "
                f"corpus.background_image_rows) but corpus.n_rows is {self.corpus.n_rows}"
            )
