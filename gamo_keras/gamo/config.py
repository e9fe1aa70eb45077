"""The resolved configuration of a run: constants of the original scripts, the budget, and the opt-in fixes.

Per-dataset values and budgets live in ``configs/<dataset>.py``; the command line overrides them; the
resolved dict is saved as the run folder's ``config.json``.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass, field

VARIANTS = ("dense", "conv")
MODELS = ("gamo", "baseline")


@dataclass
class GamoConfig:
    dataset: str
    variant: str  # "dense": pixel-space MLP (MNIST); "conv": features of the CNN F (Fashion, RGB extension)
    image_shape: tuple
    model: str = "gamo"  # "gamo" or "baseline" (M alone, the original's deleted dense_mlp_main.py)
    budget: str = "full"
    # -- the game (both main scripts) ------------------------------------------------------------------------
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    adam_epsilon: float = 1e-7  # K.epsilon()
    latent_dim: int = 100  # latDim
    batch_size: int = 32  # batchSize
    max_step: int = 50000  # step += 2 per GAMO iteration: 25,000 iterations
    eval_every_steps: int = 500  # resSamplePd
    save_every_steps: int = 5000  # modelSamplePd
    real_smoothing: float = 0.1  # D's real target 1 - U(0, 0.1)
    fake_smoothing: float = 0.1  # D's fake target U(0, 0.1)
    ctmu_units: tuple = (256, 64)
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-3
    mlp_units: tuple = (256, 128)  # M and D hidden layers
    leaky_slope: float = 0.1
    conv_filters: int = 32
    conv_kernel: int = 5
    feature_dim: int = 512
    feature_batch: int = 500  # F.predict batch when the features are recomputed
    # -- opt-in corrections: the keys of fixes.FIXES, defaults = the released code ------------------------------
    fashion_transpose: bool = True  # fMNIST_process.py transposes every Fashion image
    joint_feature_training: bool = False  # F: one epoch through frozen M per pass
    cls_loss: str = "mse"  # "mse" or "ce" (M's own updates and F's epoch)
    adv_loss: str = "mse"  # "mse" or "bce" (D and G-vs-D)
    separate_optimizers: bool = False  # one shared Adam object
    fake_bn_mode: str = "inference"  # "inference" or "train": the cTMU's BN when it makes M's and D's fakes
    # -- GAMO2pix (Fashion and the RGB extension) -------------------------------------------------------------
    gamo2pix: bool = True
    gamo2pix_steps: int = 25000  # per minority class, step += 1
    gamo2pix_batch: int = 32
    gamo2pix_latent: int = 100
    gamo2pix_hidden: int = 128
    gamo2pix_save_every: int = 2000
    gamo2pix_preview_every: int = 500
    gamo2pix_keep_order: bool = True  # the one exception: GAMO's sample order is the default (fixes.py)
    vae_logvar_consistent: bool = False  # sample with exp(z_sigma), as released
    # -- port settings (no effect on the maths) ----------------------------------------------------------------
    eval_batch: int = 1000
    xla: bool = True  # TensorFlow backend: the game's compiled chunks use XLA (jit_compile; 3x faster, bench.py)
    xla_conv: bool = False  # TensorFlow backend: F's epoch/features without XLA (XLA's CPU convolutions are
    #                         ~25x slower than oneDNN's here, bench.py); JAX always uses XLA
    max_segment: int = 250  # most iterations per compiled call (never crosses an evaluation or checkpoint)
    description: str = ""
    expected_runtime: dict = field(default_factory=dict)

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
            raise ValueError("invalid configuration: " + "; ".join(problems))
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        d["ctmu_units"], d["mlp_units"] = list(self.ctmu_units), list(self.mlp_units)
        return d


def load(dataset: str, budget: str, **overrides) -> GamoConfig:
    """``configs/<dataset>.py`` at a budget, then ``overrides`` (keys of :class:`GamoConfig`, None = keep)."""
    mod = importlib.import_module(f"configs.{dataset}")
    values = dict(mod.BASE)
    if budget not in mod.BUDGETS:
        raise ValueError(f"configs/{dataset}.py has no budget {budget!r} (has {', '.join(mod.BUDGETS)})")
    values.update(mod.BUDGETS[budget])
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["budget"] = budget
    known = {f.name for f in dataclasses.fields(GamoConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(unknown)}")
    return GamoConfig(**values).check()
