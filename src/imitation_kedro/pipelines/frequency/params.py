"""Typed parameters of the ``frequency`` pipeline (conf/<env>/parameters_frequency.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from imitation_kedro.core.params import Params
from imitation_kedro.models.face_specs import FaceDetectorParams


class MatchingParams(Params):
    """Caption matching (FIT §3.1) and the caption columns of the LAION schema."""

    # auto: the Spark engine when raw_laion_captions loads as a Spark DataFrame (conf/spark),
    # else the local engine; local/spark insist on one and fail on the other kind of input.
    engine: Literal["auto", "local", "spark"] = "auto"
    caption_column: str = "TEXT"
    id_column: str = "SAMPLE_ID"
    url_column: str = "URL"
    use_aliases: bool = True  # FIT F5: optional; the paper's headline run had it off
    nested_names: Literal["both", "longest"] = "both"  # "both" = Elasticsearch match_phrase
    # standard: Lucene's StandardAnalyzer (Elasticsearch match_phrase, FIT §3.1; the paper's).
    # loose: the older letter/digit-run rule (splits claude_monet, art:claude): recall studies only.
    analyzer: Literal["standard", "loose"] = "standard"
    batch_rows: int = Field(200_000, ge=1)  # captions per scan chunk (bounds local-engine memory)
    # Local engine: shards matched at once; 0 = one per CPU core this process may use, at most 8.
    # auto: threads when the scans run on the system libhs (no GIL while scanning), processes on
    # the wheel (it re-takes the GIL per match, so threads would queue); processes are also
    # skipped when the shard loaders cannot be pickled. Results depend on neither setting.
    workers: int = Field(0, ge=0)
    parallel: Literal["auto", "processes", "threads"] = "auto"
    # system: the system libhs (apt-get install libhyperscan5) with matches collected in C;
    # bundled: the hyperscan wheel (a Python call per match); auto: system when it can run here.
    # Same counts either way (frequency/hyperscan_backends.py).
    hyperscan: Literal["auto", "system", "bundled"] = "auto"


class SamplingParams(Params):
    """Which caption hits to fetch images for (FIT §3.2: seed 42, at most 100,000 per concept)."""

    max_images: int = Field(100_000, ge=1)
    seed: int = 42


class AcquisitionParams(Params):
    """Getting the images of the sampled hits, and the paper's cleaning rules (FIT §3.2).

    Downloaded shards go to the catalog entry ``int_downloaded_image_shards``; the paper catalog
    reads the same folder back as ``raw_laion_images``.
    """

    source: Literal["shipped", "download"] = "shipped"
    downloader: Literal["builtin", "img2dataset"] = "builtin"
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(0, ge=0)
    threads: int = Field(16, ge=1)
    shard_size: int = Field(1000, ge=1)  # images per downloaded shard (resume granularity)
    retry_failed: bool = False  # re-try URLs a previous run recorded as dead
    min_bytes: int = Field(1000, ge=0)  # paper: files < 1,000 bytes are dropped
    min_side: int = Field(2, ge=1)  # paper: width or height 1 is dropped
    user_agent: str = "imitation-kedro/0.1 (+research; img2dataset-compatible)"


class DomainVerification(Params):
    """How images of one domain are verified.

    ``method``: ``references`` (image embedder + max cosine to the concept's references; the
    miniature world), ``faces`` (every detected face vs the reference faces, FIT §3.3) or ``art``
    (an "is artwork" CLIP gate, then style similarity to the references, FIT §3.4).
    ``threshold``: ``lower``/``higher`` = the calibrated values (FIT's two rules), or a number.
    """

    method: Literal["references", "faces", "art"] = "references"
    threshold: Literal["lower", "higher"] | float = "lower"
    artwork_label: str = "an artwork"
    artwork_threshold: float | None = None  # art only: paper 0.1815185546875 / 0.1768798828125

    @model_validator(mode="after")
    def _art_needs_gate(self) -> DomainVerification:
        if self.method == "art" and self.artwork_threshold is None:
            raise ValueError("method 'art' needs artwork_threshold (FIT §3.4)")
        return self


class CalibrationParams(Params):
    """Same-concept vs different-concept pairs of reference images -> a similarity threshold.

    ``statistic``: ``mean_pair`` = FIT's face rule (positives: per-concept mean intra-concept
    cosine; negatives: mean cross-concept cosine per concept pair); ``loo_max`` = the statistic the
    verifier actually thresholds (each reference's max cosine to its own concept's other references
    vs to another concept's references).
    """

    statistic: Literal["mean_pair", "loo_max"] = "mean_pair"
    max_concepts: int = Field(150, ge=2)  # FIT: 150 random artists for the negative pairs
    seed: int = 0


class VerificationParams(Params):
    """Verification settings per domain, overridden per concept set, and where models run.

    ``sets``: settings of one concept set (e.g. ``modern`` with FIT's modern constants); a set
    without an entry uses its domain's entry in ``domains``. ``device``: ``auto`` = cuda when
    present (core/devices.py); every verification model (face detector, recogniser, CSD under
    fp16 autocast on cuda, artwork gate) runs there with ``batch_size`` images per call.
    ``face_unit``: ``faces`` (FIT §3.3: every matching face, image + box, counts) or ``images``.
    ``bad_references``: a gold face reference with no face or several faces is a logged, counted
    reject (``reject``) or stops the run (``error``); with ``reject`` the run stops only when a
    concept keeps fewer than ``min_references``.
    """

    domains: dict[str, DomainVerification] = Field(
        default_factory=lambda: {"style": DomainVerification(), "motif": DomainVerification()},
        min_length=1,
    )
    sets: dict[str, DomainVerification] = Field(default_factory=dict)
    calibration: CalibrationParams = Field(default_factory=CalibrationParams)
    min_references: int = Field(1, ge=1)
    batch_size: int = Field(64, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    fp16_autocast: bool = True  # CSD under torch.autocast(float16) on cuda (FIT §3.4)
    face_unit: Literal["faces", "images"] = "faces"
    bad_references: Literal["reject", "error"] = "reject"
    # open_clip model for the artwork gate / image embedding instead of the mdl_miniature_clip
    # input: "hf-hub:<repo>" or "<arch>:<pretrained tag or local checkpoint>" (paper: DFN5B).
    clip_model: str | None = None
    face_model: str | None = None  # paper: path of the ArcFace ONNX file (faces domain)
    # detector in front of face_model (dlib, or the paper's SCRFD: buffalo_l det_10g.onnx)
    face_detector: FaceDetectorParams = Field(default_factory=FaceDetectorParams)
    style_model: str | None = None  # paper: path of the CSD checkpoint (art domain)


Corpus = Literal["laion2b_en", "laion5b"]


class EstimateParams(Params):
    """Scaling verified fractions back to image counts (FIT §3.6) with a Wilson interval.

    ``corpora``: the pre-training corpora to estimate for (one row per concept and corpus in
    ``prm_concept_frequencies``). ``laion2b_en`` (SD1.x): verified x captions / downloaded over
    raw_laion_captions. ``laion5b`` (SD2.1): raw_laion5b_captions is counted too and the 2B-en
    estimate and CI are multiplied by captions_5b / captions (images only ever come from
    LAION-2B-en). ``no_images``: a concept with captions but no usable image keeps the raw count
    0 (``zero``, FIT §3.6) or gets an empty estimate (``nan``; the threshold stage rejects it).
    """

    ci_level: float = Field(0.95, ge=0.5, lt=1.0)
    corpora: list[Corpus] = Field(default_factory=lambda: ["laion2b_en"], min_length=1)
    no_images: Literal["zero", "nan"] = "zero"

    @field_validator("corpora")
    @classmethod
    def _distinct(cls, corpora: list[str]) -> list[str]:
        if len(set(corpora)) != len(corpora):
            raise ValueError(f"duplicates in {corpora}")
        return corpora


class FrequencyParams(Params):
    """All parameters of the ``frequency`` pipeline."""

    matching: MatchingParams = Field(default_factory=MatchingParams)
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    acquisition: AcquisitionParams = Field(default_factory=AcquisitionParams)
    verification: VerificationParams = Field(default_factory=VerificationParams)
    estimate: EstimateParams = Field(default_factory=EstimateParams)
