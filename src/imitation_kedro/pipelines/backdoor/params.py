"""Typed parameters of the ``backdoor`` pipeline (top-level key ``backdoor:``).

Light module: no torch / open_clip imports. See ../shared/reference/backdoor.md for the paper values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from imitation_kedro.core.params import Params

Objective = Literal["mmcl", "mmcl_ssl", "ssl", "siglip", "siglip_bias"]
CleanObjective = Literal["mmcl", "ssl", "mmcl_ssl"]


class DataParams(Params):
    """Which pairs and classes, and how they are split."""

    corpus: str = "miniature"  # the corpus' name (paper: cc3m / cc6m, its data folder)
    image_size: int = Field(32, ge=8)  # images are squashed to image_size x image_size (paper: 224)
    max_pairs: int = 0  # 0 = all pairs; otherwise a seeded sample of this many
    n_classes: int = 10  # zero-shot classes: the most frequent labelled concepts (0 = all)
    # file: every row of the class file in its order, index-based (the paper: ImageNet's 1,000
    # CLIP names, banana = 954); frequency: the n_classes most frequent labelled concepts
    class_order: Literal["frequency", "file"] = "frequency"
    min_class_pairs: int = 20  # a class needs this many labelled pairs to be used
    n_selection: int = Field(200, ge=1)  # labelled pairs held out for model selection
    n_test: int = Field(200, ge=1)  # labelled pairs held out for the reported numbers
    n_clean: int = Field(400, ge=1)  # clean pairs (disjoint from poisons) for CleanCLIP fine-tuning
    unlabelled_in_pretraining: bool = True  # keep pairs without a class label for pre-training
    eval_source: Literal["corpus", "table"] = "corpus"  # table: the separate evaluation input
    image_root: str | None = None  # prefix of the pairs' ``image`` path column (CleanCLIP CSV)
    eval_image_root: str | None = None  # prefix of the evaluation table's ``image`` paths
    seed: int = 0
    # streaming (paper scale): tables keep image paths/bytes; images are decoded, triggered and
    # (optionally) augmented per batch in DataLoader workers (streaming.py; the mode is chosen
    # once, by source.pair_source). false = eager (eager.py): every
    # image decoded once into memory (miniature world; its numbers are those of the README)
    streaming: bool = False
    loader_workers: int = Field(
        0, ge=0
    )  # DataLoader worker processes (streaming; 0 = main process)
    prefetch: int = Field(2, ge=1)  # batches prefetched per worker (streaming, loader_workers > 0)
    check_files: bool = True  # streaming: a missing image file is a counted reject up front
    # streaming: AutoAugment per image inside the workers, seeded per (seed, epoch, key), so the
    # views do not depend on the worker count; false = on the batch in the main process, the
    # same draws as eager mode (identical numbers, but one CPU thread augments every batch)
    augment_in_workers: bool = False


class AttackParams(Params):
    """Trigger and poisoning (reference section 3; B3, B4, B5, B10)."""

    kind: Literal["badnet", "blended", "wanet", "label_consistent"] = "badnet"
    target: str | None = "banana"  # None: the class ranked `target_rank` by labelled pairs
    target_rank: int = 0
    n_poison: int = Field(100, ge=0)
    caption_source: Literal["templates", "corpus"] = "templates"  # poison captions (see below)
    patch_size: int = Field(4, ge=1)  # pixels at data.image_size (paper: 16 at 224)
    patch_location: Literal["random", "corner"] = "random"
    # per_image: fresh seeded N(0, 1) noise per image (the paper); fixed: one seeded noise draw
    # shared by every image, train and test (BadNets' fixed trigger; learnable by small models)
    patch_noise: Literal["per_image", "fixed"] = "per_image"
    clamp: bool = True  # False = the original uint8 overflow (fidelity only)
    blend_alpha: float = Field(0.2, gt=0, lt=1)
    wanet_k: int = 4
    wanet_s: float = 0.6
    seed: int = 0

    @field_validator("target")
    @classmethod
    def _named_target(cls, target: str | None) -> str | None:
        if target is not None and not target.strip():
            raise ValueError("must be a class name or null")
        return target


class ModelParams(Params):
    """Architecture: an open_clip model name (no weights) or an explicit open_clip CLIP cfg."""

    name: str | None = None  # e.g. "RN50" (paper) or "miniature-clip" once registered
    cfg: dict[str, Any] | None = None  # open_clip CLIP kwargs: embed_dim, vision_cfg, text_cfg
    # "module:function" called first (registers a custom config); key ``register`` in the files
    # (a pydantic model cannot name an attribute ``register``)
    register_fn: str | None = Field(None, alias="register")
    context_length: int | None = None  # override the text context (open_clip force_context_length)

    @field_validator("register_fn")
    @classmethod
    def _module_function(cls, register: str | None) -> str | None:
        if register is not None and ":" not in register:
            raise ValueError(f"must be 'module:function', got {register!r}")
        return register

    @model_validator(mode="after")
    def _one_architecture(self) -> ModelParams:
        if (self.name is None) == (self.cfg is None):
            raise ValueError("give exactly one of `name` or `cfg`")
        return self


class AugmentParams(Params):
    """SSL views (reference section 2)."""

    image: Literal["autoaugment", "none"] = "autoaugment"
    image_group: int = 1  # images sharing one AutoAugment draw (1 = per image, as the paper)
    eda_alpha_ri: float = 0.1
    eda_alpha_rs: float = 0.1
    eda_p_rd: float = 0.1
    seed: int = 0


class OptimParams(Params):
    """One training recipe (AdamW, linear warm-up, cosine to 0)."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2)  # global pairs per step, the same for every objective (B13)
    # forwards per global batch, each over a strided shard: BatchNorm statistics per shard, as per
    # GPU under DDP. One process runs them in turn; under torchrun it must equal the world size,
    # so one process and torchrun give the same steps
    shards: int = Field(1, ge=1)
    lr: float = 1e-3
    warmup_steps: int = 20
    weight_decay: float = 0.1
    no_decay_keys: list[str] = Field(default_factory=lambda: ["bn", "ln", "bias", "logit_scale"])


class PretrainParams(Params):
    """Pre-training of the poisoned models, one per objective."""

    objectives: list[Objective] = Field(default_factory=lambda: ["mmcl", "mmcl_ssl"], min_length=1)
    lambda_mmcl: float = 1.0
    lambda_ssl: float = 1.0
    logit_scale_init: float = 2.659260036932778  # ln(1/0.07)
    logit_scale_max: float = 4.605170185988092  # ln(100)
    siglip_weight: float = 0.1
    optim: OptimParams = Field(default_factory=OptimParams)
    # B12. best_clean_acc_backdoored: the most accurate evaluated epoch (selection split) whose
    # selection ASR@1 is at least backdoor_floor, as the paper hand-picked epochs 21 / 36 for
    # matched accuracy with the backdoor in place; when no epoch reaches the floor, the most
    # backdoored one (logged; the study's ASR gate then judges the model).
    checkpoint_rule: Literal[
        "last", "best_clean_acc", "best_clean_acc_backdoored", "fixed_epoch"
    ] = "last"
    backdoor_floor: float = Field(0.95, ge=0.0, le=1.0)
    eval_every: int = Field(1, ge=1)  # evaluate every k epochs (and always at the end)
    eval_start: bool = True  # also evaluate the initial (untrained) model as epoch 0
    fixed_epoch: int = 0
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @model_validator(mode="after")
    def _evaluated_fixed_epoch(self) -> PretrainParams:
        if self.checkpoint_rule == "fixed_epoch" and self.fixed_epoch % self.eval_every:
            raise ValueError("fixed_epoch must be an evaluated epoch (a multiple of eval_every)")
        return self


class CleanGrid(Params):
    """One cleaning objective's own grid (the paper: MMCL-only at batch 128 with its own lrs)."""

    lrs: list[float] | None = Field(None, min_length=1)  # None: clean.lrs
    batch_size: int | None = Field(None, ge=2)  # None: clean.optim.batch_size


class CleanParams(Params):
    """CleanCLIP fine-tuning grid (reference section 4)."""

    objectives: list[CleanObjective] = Field(default_factory=lambda: ["mmcl", "ssl", "mmcl_ssl"])
    lrs: list[float] = Field(default_factory=lambda: [1e-4, 5e-4], min_length=1)
    grids: dict[CleanObjective, CleanGrid] = Field(default_factory=dict)
    lambda_ssl: list[float] = Field(default_factory=lambda: [1.0], min_length=1)  # mmcl_ssl only
    optim: OptimParams = Field(default_factory=OptimParams)
    load_optimizer_state: bool = False  # True only reproduces the original's quirk (B2)


class EvalParams(Params):
    """Zero-shot evaluation (reference section 5)."""

    templates: list[str] = Field(
        default_factory=lambda: ["a photo of a {}.", "a picture of {}."], min_length=1
    )
    topk: list[int] = Field(default_factory=lambda: [1, 5])
    batch_size: int = 512
    # prompts per text-tower batch: memory is bounded by this, not by classes x templates
    prompt_batch: int = Field(1024, ge=1)

    @field_validator("templates")
    @classmethod
    def _class_slot(cls, templates: list[str]) -> list[str]:
        if any("{}" not in t for t in templates):
            raise ValueError("every template needs a '{}' for the class name")
        return templates

    @field_validator("topk")
    @classmethod
    def _top1(cls, topk: list[int]) -> list[int]:
        if 1 not in topk:
            raise ValueError("must contain 1")
        return topk


class SelectParams(Params):
    """Selection rule (reference section 6; B11)."""

    asr_caps: list[float] = Field(default_factory=lambda: [0.05, 0.10, 0.20])
    selection_split: Literal["selection", "test"] = "selection"  # "test" = the paper's oracle


class RegimeParams(Params):
    """The backdoor's own miniature world in the paper's regime (:mod:`.regime`): many classes,
    hard images, so zero-shot top-1 is far from saturation. Off: the FIT world's pairs as they are."""

    enabled: bool = False
    n_classes: int = Field(100, ge=2)  # paper: 1,000 ImageNet classes
    pairs_per_class: int = Field(30, ge=1)  # captioned images naming each class
    unlabelled_pairs: int = Field(0, ge=0)  # images whose caption names no class (web noise)
    hue_jitter: float = Field(0.04, ge=0, le=0.5)  # of the colour wheel; classes 1/hues apart
    noise: float = Field(40.0, ge=0)  # pixel noise sd (0-255)
    filler_words: int = Field(3, ge=0)  # random vocabulary words per caption
    vocabulary: int = Field(300, ge=1)  # filler vocabulary size
    seed: int = 0


class BackdoorParams(Params):
    """All parameters of the ``backdoor`` pipeline."""

    regime: RegimeParams = Field(default_factory=RegimeParams)
    data: DataParams = Field(default_factory=DataParams)
    attack: AttackParams = Field(default_factory=AttackParams)
    model: ModelParams = Field(default_factory=lambda: ModelParams(name="RN50"))
    augment: AugmentParams = Field(default_factory=AugmentParams)
    pretrain: PretrainParams = Field(default_factory=PretrainParams)
    clean: CleanParams = Field(default_factory=CleanParams)
    eval: EvalParams = Field(default_factory=EvalParams)
    select: SelectParams = Field(default_factory=SelectParams)
    num_threads: int = 0  # torch CPU threads (0 = leave torch's default)
    device: str = "cpu"  # "cuda" at paper scale
