"""Resolve a run's config: ``shared_data.config.resolve`` of a dataset's config module (its ``CONFIG``, the
budget's keys, the hyper-parameter flags and the opt-in fixes; an unknown key is refused), then DGC's derived
values (:func:`derive`) and checks (:func:`validate`).

The released code's behaviour is the default: every fix of the folder's fix table is a key of ``CONFIG`` at that
behaviour, and ``run.py`` passes the values its flags chose.
"""
from __future__ import annotations

from shared_data import config as shared_config
from shared_data.errors import ConfigError

DATASETS = ("mnist", "fashion", "svhn", "celeba")

# CLI dest -> (config key, the override's name in the variant, see fixes.OVERRIDE_NAMES; None: not in the
# variant). The test subset changes only the split's test arrays, which the split itself records.
OVERRIDES = {
    "epochs": ("epoch_num", "epochs"),
    "lambda_": ("lambda", "lambda"),
    "zdim": ("zdim", "zdim"),
    "aug_rate": ("aug_rate", "aug-rate"),
    "sampling_size": ("sampling_size", "sampling-size"),
    "lr": ("lr", "lr"),
    "batch_size": ("batch_size", "batch-size"),
    "test_subset": ("test_subset_per_class", None),
}

__all__ = ["DATASETS", "OVERRIDES", "ConfigError", "resolve", "derive", "validate", "check_split"]


def resolve(module, budget: str, flags: dict | None = None, fixes: dict | None = None) -> dict:
    """The config of a run: ``module``'s CONFIG at ``budget`` with the hyper-parameter ``flags`` (CLI dest of
    :data:`OVERRIDES` -> value; None: not given) and the ``fixes`` (fix key -> value), derived and checked."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = sorted(set(flags) - set(OVERRIDES))
    if unknown:
        raise ConfigError(f"unknown hyper-parameter flag {unknown[0]!r}; known: {', '.join(OVERRIDES)}")
    budget_cfg = shared_config.resolve(module, budget)
    cfg = shared_config.resolve(module, budget, {**(fixes or {}), **{OVERRIDES[k][0]: v for k, v in flags.items()}})
    return derive(cfg, budget_cfg)


def derive(cfg: dict, budget_cfg: dict) -> dict:
    """DGC's derived values: ``overrides`` records each hyper-parameter that differs from the budget's value (its
    name in the variant -> value; ``fixes.variant_of`` reads it back) and the original's test batch follows an
    overridden training batch (``batch_size // 10``, `dgc.py` L417). Checked by :func:`validate`."""
    overrides = {name: cfg[key] for key, name in OVERRIDES.values()
                 if name is not None and cfg[key] != budget_cfg[key]}
    if "batch-size" in overrides:
        cfg["test_batch_size"] = max(1, cfg["batch_size"] // 10)
    cfg["overrides"] = overrides
    validate(cfg)
    return cfg


def validate(cfg: dict) -> None:
    problems = []
    for key in ("epoch_num", "batch_size", "zdim", "sampling_size", "test_batch_size"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            problems.append(f"{key} must be a positive integer, got {cfg[key]!r}")
    if cfg["test_subset_per_class"] is not None and cfg["test_subset_per_class"] < 1:
        problems.append("test subset per class must be >= 1")
    if cfg["lr"] <= 0:
        problems.append("lr must be > 0")
    if cfg["aug_rate"] < 0 or cfg["lambda"] < 0:
        problems.append(f"aug_rate and lambda must be >= 0, got {cfg['aug_rate']} and {cfg['lambda']}")
    if cfg["ce_reduction"] not in ("sum", "mean"):
        problems.append(f"ce_reduction must be sum or mean, got {cfg['ce_reduction']!r}")
    if cfg["aug_count_rule"] not in ("code", "paper"):
        problems.append(f"aug_count_rule must be code or paper, got {cfg['aug_count_rule']!r}")
    if cfg["inference_mmd"] not in ("plus", "minus", "off"):
        problems.append(f"inference_mmd must be plus, minus or off, got {cfg['inference_mmd']!r}")
    if cfg["report_epoch"] is not None:
        from .schedules import eval_epochs

        evaluated = [e + 1 for e in eval_epochs(cfg["eval_strategy"], cfg["epoch_num"])]
        if cfg["report_epoch"] not in evaluated:
            problems.append(f"report_epoch {cfg['report_epoch']} is not an evaluated epoch ({evaluated})")
    if not isinstance(cfg["keep_checkpoints"], int) or cfg["keep_checkpoints"] < 1:
        problems.append(f"keep_checkpoints must be a positive integer, got {cfg['keep_checkpoints']!r}")
    if cfg["cost"] != "l2sq":
        problems.append(f"only cost = 'l2sq' is used by the released configs, got {cfg['cost']!r}")
    if cfg["augment_x"]:
        problems.append("augment_x (pixel-level oversampling) is off in both released configs and not ported")
    if problems:
        raise ConfigError("; ".join(problems))


def check_split(cfg: dict, split) -> None:
    """Refuse a split the config cannot train on, before any run folder or graph is made: another image shape,
    or a class without training images (the copy counts divide by every class's count)."""
    import numpy as np

    shape = list(split.x_train.shape[1:])
    if shape != list(cfg["input_shape"]):
        raise ConfigError(f"split {split.split_id}: images of shape {shape}, the {cfg['dataset']} config expects "
                          f"{list(cfg['input_shape'])}")
    n_cls = int(cfg["n_classes"])
    counts = np.bincount(np.asarray(split.y_train, dtype=np.int64), minlength=n_cls)
    if len(counts) != n_cls or counts.min() == 0:
        raise ConfigError(f"split {split.split_id}: training counts {counts.tolist()} do not give each of the "
                          f"{n_cls} classes of the config an image; choose a smaller --ir or another protocol")
