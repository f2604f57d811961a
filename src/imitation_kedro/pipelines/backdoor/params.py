"""Typed parameters of the ``backdoor`` pipeline (top-level key ``backdoor:``).

Light module: no torch / open_clip imports. See ../shared/reference/backdoor.md for the paper values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from imitation_kedro.core.params import ParameterError, Params

OBJECTIVES = ("mmcl", "mmcl_ssl", "ssl", "siglip", "siglip_bias")
CLEAN_OBJECTIVES = ("mmcl", "ssl", "mmcl_ssl")


@dataclass(frozen=True)
class DataParams(Params):
    """Which pairs and classes, and how they are split."""

    image_size: int = 32  # images are squashed to image_size x image_size (paper: 224)
    max_pairs: int = 0  # 0 = all pairs; otherwise a seeded sample of this many
    n_classes: int = 10  # zero-shot classes: the most frequent labelled concepts (0 = all)
    min_class_pairs: int = 20  # a class needs this many labelled pairs to be used
    n_selection: int = 200  # labelled pairs held out for model selection
    n_test: int = 200  # labelled pairs held out for the reported numbers
    n_clean: int = 400  # clean pairs (disjoint from poisons) for CleanCLIP fine-tuning
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
    loader_workers: int = 0  # DataLoader worker processes (streaming only; 0 = main process)
    prefetch: int = 2  # batches prefetched per worker (streaming with loader_workers > 0)
    check_files: bool = True  # streaming: a missing image file is a counted reject up front
    # streaming: AutoAugment per image inside the workers, seeded per (seed, epoch, key), so the
    # views do not depend on the worker count; false = on the batch in the main process, the
    # same draws as eager mode (identical numbers, but one CPU thread augments every batch)
    augment_in_workers: bool = False

    def validate(self) -> None:
        if self.image_size < 8:
            raise ParameterError(f"data.image_size must be >= 8, got {self.image_size}")
        if self.loader_workers < 0 or self.prefetch < 1:
            raise ParameterError("data.loader_workers must be >= 0 and data.prefetch >= 1")
        for name in ("n_selection", "n_test", "n_clean"):
            if getattr(self, name) < 1:
                raise ParameterError(f"data.{name} must be >= 1")


@dataclass(frozen=True)
class AttackParams(Params):
    """Trigger and poisoning (reference section 3; B3, B4, B5, B10)."""

    kind: Literal["badnet", "blended", "wanet", "label_consistent"] = "badnet"
    target: str | None = "banana"  # None: the class ranked `target_rank` by labelled pairs
    target_rank: int = 0
    n_poison: int = 100
    caption_source: Literal["templates", "corpus"] = "templates"  # poison captions (see below)
    patch_size: int = 4  # pixels at data.image_size (paper: 16 at 224)
    patch_location: Literal["random", "corner"] = "random"
    # per_image: fresh seeded N(0, 1) noise per image (the paper); fixed: one seeded noise draw
    # shared by every image, train and test (BadNets' fixed trigger; learnable by small models)
    patch_noise: Literal["per_image", "fixed"] = "per_image"
    clamp: bool = True  # False = the original uint8 overflow (fidelity only)
    blend_alpha: float = 0.2
    wanet_k: int = 4
    wanet_s: float = 0.6
    seed: int = 0

    def validate(self) -> None:
        if self.n_poison < 0:
            raise ParameterError(f"attack.n_poison must be >= 0, got {self.n_poison}")
        if self.patch_size < 1:
            raise ParameterError("attack.patch_size must be >= 1")
        if not 0.0 < self.blend_alpha < 1.0:
            raise ParameterError("attack.blend_alpha must be in (0, 1)")
        if self.target is not None and not self.target.strip():
            raise ParameterError("attack.target must be a class name or null")


@dataclass(frozen=True)
class ModelParams(Params):
    """Architecture: an open_clip model name (no weights) or an explicit open_clip CLIP cfg."""

    name: str | None = None  # e.g. "RN50" (paper) or "miniature-clip" once registered
    cfg: dict[str, Any] | None = None  # open_clip CLIP kwargs: embed_dim, vision_cfg, text_cfg
    register: str | None = None  # "module:function" called first (registers a custom config)
    context_length: int | None = None  # override the text context (open_clip force_context_length)

    def validate(self) -> None:
        if (self.name is None) == (self.cfg is None):
            raise ParameterError("model: give exactly one of `name` or `cfg`")
        if self.register is not None and ":" not in self.register:
            raise ParameterError(f"model.register must be 'module:function', got {self.register!r}")


@dataclass(frozen=True)
class AugmentParams(Params):
    """SSL views (reference section 2)."""

    image: Literal["autoaugment", "none"] = "autoaugment"
    image_group: int = 1  # images sharing one AutoAugment draw (1 = per image, as the paper)
    eda_alpha_ri: float = 0.1
    eda_alpha_rs: float = 0.1
    eda_p_rd: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class OptimParams(Params):
    """One training recipe (AdamW, linear warm-up, cosine to 0)."""

    epochs: int = 10
    batch_size: int = 128  # global pairs per step, the same for every objective (B13)
    lr: float = 1e-3
    warmup_steps: int = 20
    weight_decay: float = 0.1
    no_decay_keys: list[str] = field(default_factory=lambda: ["bn", "ln", "bias", "logit_scale"])

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ParameterError("epochs must be >= 1 and batch_size >= 2")


@dataclass(frozen=True)
class PretrainParams(Params):
    """Pre-training of the poisoned models, one per objective."""

    objectives: list[str] = field(default_factory=lambda: ["mmcl", "mmcl_ssl"])
    lambda_mmcl: float = 1.0
    lambda_ssl: float = 1.0
    logit_scale_init: float = 2.659260036932778  # ln(1/0.07)
    logit_scale_max: float = 4.605170185988092  # ln(100)
    siglip_weight: float = 0.1
    optim: OptimParams = field(default_factory=OptimParams)
    checkpoint_rule: Literal["last", "best_clean_acc", "fixed_epoch"] = "last"  # B12
    eval_every: int = 1  # evaluate every k epochs (and always before training and at the end)
    fixed_epoch: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])

    def validate(self) -> None:
        bad = [o for o in self.objectives if o not in OBJECTIVES]
        if bad or not self.objectives:
            raise ParameterError(
                f"pretrain.objectives {bad or '[]'}: choose from {list(OBJECTIVES)}"
            )
        if not self.seeds:
            raise ParameterError("pretrain.seeds must list at least one seed")
        if self.eval_every < 1:
            raise ParameterError("pretrain.eval_every must be >= 1")
        if self.checkpoint_rule == "fixed_epoch" and self.fixed_epoch % self.eval_every:
            raise ParameterError("pretrain.fixed_epoch must be an evaluated epoch (eval_every)")


@dataclass(frozen=True)
class CleanParams(Params):
    """CleanCLIP fine-tuning grid (reference section 4)."""

    objectives: list[str] = field(default_factory=lambda: ["mmcl", "ssl", "mmcl_ssl"])
    lrs: list[float] = field(default_factory=lambda: [1e-4, 5e-4])
    lambda_ssl: list[float] = field(default_factory=lambda: [1.0])  # grid for mmcl_ssl only
    optim: OptimParams = field(default_factory=OptimParams)
    load_optimizer_state: bool = False  # True only reproduces the original's quirk (B2)

    def validate(self) -> None:
        bad = [o for o in self.objectives if o not in CLEAN_OBJECTIVES]
        if bad:
            raise ParameterError(f"clean.objectives {bad}: choose from {list(CLEAN_OBJECTIVES)}")
        if not self.lrs or not self.lambda_ssl:
            raise ParameterError("clean.lrs and clean.lambda_ssl must not be empty")


@dataclass(frozen=True)
class EvalParams(Params):
    """Zero-shot evaluation (reference section 5)."""

    templates: list[str] = field(default_factory=lambda: ["a photo of a {}.", "a picture of {}."])
    topk: list[int] = field(default_factory=lambda: [1, 5])
    batch_size: int = 512

    def validate(self) -> None:
        if not self.templates or any("{}" not in t for t in self.templates):
            raise ParameterError("eval.templates: every template needs a '{}' for the class name")
        if not self.topk or 1 not in self.topk:
            raise ParameterError("eval.topk must contain 1")


@dataclass(frozen=True)
class SelectParams(Params):
    """Selection rule (reference section 6; B11)."""

    asr_caps: list[float] = field(default_factory=lambda: [0.05, 0.10, 0.20])
    selection_split: Literal["selection", "test"] = "selection"  # "test" = the paper's oracle


@dataclass(frozen=True)
class BackdoorParams(Params):
    """All parameters of the ``backdoor`` pipeline."""

    _where: ClassVar[str] = "backdoor"

    data: DataParams = field(default_factory=DataParams)
    attack: AttackParams = field(default_factory=AttackParams)
    model: ModelParams = field(default_factory=lambda: ModelParams(name="RN50"))
    augment: AugmentParams = field(default_factory=AugmentParams)
    pretrain: PretrainParams = field(default_factory=PretrainParams)
    clean: CleanParams = field(default_factory=CleanParams)
    eval: EvalParams = field(default_factory=EvalParams)
    select: SelectParams = field(default_factory=SelectParams)
    num_threads: int = 0  # torch CPU threads (0 = leave torch's default)
    device: str = "cpu"  # "cuda" at paper scale
    mlflow_experiment: str | None = None  # log per-epoch metrics to MLflow when set
