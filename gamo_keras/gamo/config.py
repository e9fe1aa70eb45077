"""The typed view of a run's resolved config, its derived values and its checks.

``run.py`` resolves ``configs/<dataset>.py`` with ``shared_data.config.resolve`` (the full budget's ``CONFIG``,
the budget's changes, the command line's overrides; an unknown key is refused there) and saves that dict as the
run folder's ``config.json``. :func:`of` turns it into a :class:`GamoConfig` (attribute access for the maths) and
checks the combination; the values themselves live in ``configs/`` only.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

from shared_data.errors import ConfigError

VARIANTS = ("dense", "conv")
MODELS = ("gamo", "baseline")
STAGES = ("gamo", "gamo2pix")
TUPLE_KEYS = ("image_shape", "ctmu_units", "mlp_units")

# run.py's hyper-parameter flags (argparse dest) -> the config keys they override
FLAG_KEYS = {"model": "model", "max_step": "max_step", "eval_every": "eval_every_steps",
             "save_every": "save_every_steps", "gamo2pix_steps": "gamo2pix_steps", "xla": "xla"}


@dataclass(frozen=True)
class GamoConfig:
    """Every key of ``configs/<dataset>.py``'s ``CONFIG`` plus ``budget`` (the meaning of each: configs/mnist.py)."""
    dataset: str
    variant: str  # "dense": pixel-space MLP (MNIST); "conv": features of the CNN F (Fashion, RGB extension)
    image_shape: tuple
    model: str
    budget: str
    learning_rate: float
    beta_1: float
    beta_2: float
    adam_epsilon: float
    latent_dim: int
    batch_size: int
    max_step: int
    eval_every_steps: int
    save_every_steps: int
    real_smoothing: float
    fake_smoothing: float
    ctmu_units: tuple
    bn_momentum: float
    bn_epsilon: float
    mlp_units: tuple
    leaky_slope: float
    conv_filters: int
    conv_kernel: int
    feature_dim: int
    feature_batch: int
    fashion_transpose: bool
    joint_feature_training: bool
    cls_loss: str
    adv_loss: str
    separate_optimizers: bool
    fake_bn_mode: str
    gamo2pix: bool
    gamo2pix_steps: int
    gamo2pix_batch: int
    gamo2pix_latent: int
    gamo2pix_hidden: int
    gamo2pix_save_every: int
    gamo2pix_preview_every: int
    gamo2pix_keep_order: bool
    vae_logvar_consistent: bool
    eval_batch: int
    xla: bool
    xla_conv: bool
    max_segment: int
    description: str
    expected_runtime: dict

    # -- derived ------------------------------------------------------------------------------------------------
    @property
    def step_increment(self) -> int:
        return 2 if self.model == "gamo" else 1

    @property
    def total_iterations(self) -> int:
        return self.max_step // self.step_increment

    def gen_points(self, num_classes: int) -> int:
        """genClassPoints = ceil(batchSize / c) samples per class per G update."""
        return int(math.ceil(self.batch_size / num_classes))

    def check(self) -> "GamoConfig":
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant {self.variant!r} not in {VARIANTS}")
        if self.model not in MODELS:
            problems.append(f"model {self.model!r} not in {MODELS}")
        if self.cls_loss not in ("mse", "ce"):
            problems.append(f"cls_loss {self.cls_loss!r} not in ('mse', 'ce')")
        if self.adv_loss not in ("mse", "bce"):
            problems.append(f"adv_loss {self.adv_loss!r} not in ('mse', 'bce')")
        if self.fake_bn_mode not in ("inference", "train"):
            problems.append(f"fake_bn_mode {self.fake_bn_mode!r} not in ('inference', 'train')")
        if self.max_step <= 0 or self.max_step % self.step_increment:
            problems.append(f"max_step {self.max_step} must be a positive multiple of {self.step_increment}")
        for k in ("batch_size", "eval_every_steps", "save_every_steps", "latent_dim", "eval_batch"):
            if getattr(self, k) <= 0:
                problems.append(f"{k} must be positive")
        if self.max_segment <= 0:
            problems.append("max_segment must be positive")
        if self.joint_feature_training and self.variant != "conv":
            problems.append("joint_feature_training needs the conv variant (Fashion-MNIST, CIFAR-10, SVHN)")
        # corrections that cannot change such a run are refused rather than recorded as a variant
        if not self.fashion_transpose and self.dataset != "fashion":
            problems.append("--no-fashion-transpose applies to Fashion-MNIST only (no other dataset is transposed)")
        if self.model == "baseline":
            for key, default in (("adv_loss", "mse"), ("fake_bn_mode", "inference")):
                if getattr(self, key) != default:
                    problems.append(f"{key} has no effect with --model baseline (no D, no generator)")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for key in TUPLE_KEYS:
            d[key] = list(d[key])
        return d


FIELDS = tuple(f.name for f in dataclasses.fields(GamoConfig))


def of(cfg: Mapping) -> GamoConfig:
    """The checked :class:`GamoConfig` of a resolved config dict (``config.json`` keys beyond the config's own,
    such as the run's seeds, are left out); a missing key is a ConfigError naming it."""
    missing = [k for k in FIELDS if k not in cfg]
    if missing:
        raise ConfigError(f"config has no {', '.join(missing)} (configs/<dataset>.py must define every key)")
    values = {k: cfg[k] for k in FIELDS}
    for key in TUPLE_KEYS:
        values[key] = tuple(values[key])
    return GamoConfig(**values).check()


def check_stage(cfg: GamoConfig, stage: str) -> None:
    """Refuse a stage the config cannot run, before anything is loaded."""
    if stage not in STAGES:
        raise ConfigError(f"--stage {stage!r} not in {STAGES}")
    if stage == "gamo2pix" and cfg.model == "baseline":
        raise ConfigError("--stage gamo2pix needs a GAMO run, not --model baseline")
    if stage == "gamo2pix" and cfg.variant != "conv":
        raise ConfigError(f"GAMO2pix maps generated features back to images; {cfg.dataset} uses the pixel-space "
                          f"variant, whose samples are images already (see samples.png)")
