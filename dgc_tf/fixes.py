"""The opt-in corrections of DGC's released code: one table for the flags, the variant name and the README.

The released code's behaviour is every fix's default. Line references are to the original repository,
lvyilin/DGC at code commit 6486aa3 (``6486aa308d37001df6abb0a7fb953a586191a10e``; the later HEAD 957a5ed only
adds the paper and edits its README).

Framework-free: ``variant_of`` names the variant of any run's config, including the result records written
before this table existed.
"""
from __future__ import annotations

from shared_data import variants
from shared_data.variants import Fix

PAPER_METHOD = "DGC"  # the method's name in paper_tables/*.csv
BASE = "dgc"

FIXES = (
    Fix("ce_reduction", "sum", choices=("sum", "mean"),
        help="cross-entropy averaged over the batch instead of summed (for the training objective and the "
             "oversampling step)",
        original="the classification loss is the batch sum of the per-sample cross-entropies, marked `# FIXME` "
                 "(`dgc.py` L144-146)"),
    Fix("lr_schedule_cumulative", False,
        help="cumulative learning-rate factors: `manual` x0.5 from epoch index 30, x0.1 from 50, x0.01 from 100; "
             "`manual_smooth` 100^(-(e+1)/epochs), reaching 1/100 in the last epoch",
        original="the factor is set afresh every epoch: `manual` (MNIST) is x0.5 during epoch index 30 only "
                 "(x0.2 only at 50, x0.1 only at 100), `manual_smooth` (CelebA) the constant 100^(-1/epochs) "
                 "(`dgc.py` L299-312, used at L336)"),
    Fix("lvo_main_optimizer", False,
        help="the LVO step uses the main Adam (with the epoch's learning-rate factor)",
        original="the LVO step is built on the pretraining Adam: no learning-rate factor, and it continues the "
                 "pretraining moment estimates (`dgc.py` L218-225)"),
    Fix("separate_cls_optimizer", False,
        help="a separate Adam for the classifier-only latent-oversampling step",
        original="the main step and the classifier-only step are built on one Adam instance and share the "
                 "classifier's moment slots (`dgc.py` L210-216)"),
    Fix("decode_oversampled", False,
        help="decode the oversampled codes and add 0.5 x the batch mean of each decoded copy's squared error "
             "against the image it was copied from to the oversampling step, which then also updates the decoder "
             "(one reading of paper Sec. 3.3 / Fig. 3)",
        original="the oversampled codes only feed the classifier's cross-entropy; they are never decoded "
                 "(`dgc.py` L47, L51, L58, L215-216, L371-379)"),
    Fix("aug_count_rule", "code", choices=("code", "paper"),
        help="copies per sample of class c: `paper` = max{1, r N_max / N_c} (the paper's s_c)",
        original="each sample of class c is copied 1 + r (N_max - N_c) / N_c times, original included "
                 "(`dgc.py` L274-275, L288-292)"),
    Fix("inference_mmd", "plus", choices=("plus", "minus", "off"),
        help="sign of the lambda x MMD term in the Bayes-rule score at prediction: `minus` subtracts it, `off` "
             "drops it (then predictions no longer depend on which images share a test batch)",
        original="each sample's score adds +lambda x MMD of the class's codes in the test batch against a fresh "
                 "prior sample, one value per class and test batch (`dgc.py` L77, L83-84)"),
    Fix("reshuffle_each_epoch", False,
        help="reshuffle the training batches every epoch",
        original="every epoch walks the subset in the one order it was shuffled into when loaded "
                 "(`dgc.py` L347-350; `dataset/dataset.py` L68)"),
    Fix("report_epoch", None, type=int,
        help="report the evaluation after this 1-based epoch (default: the last evaluation)",
        original="evaluations are printed only and no epoch is selected (`dgc.py` L405-407, L431-432)"),
)

# Hyper-parameter overrides that change the model or the paper's parameters: they name the base of the
# variant (e.g. ``dgc lambda=10``), as the paper's parameters do, never a fix. A run records the overrides it
# applied under ``config["overrides"]`` (CLI name -> value).
OVERRIDE_NAMES = ("epochs", "lambda", "zdim", "aug-rate", "sampling-size", "lr", "batch-size")


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def base_of(config: dict) -> str:
    """``dgc`` plus every recorded hyper-parameter override, in a fixed order (``dgc epochs=100 lambda=10``)."""
    overrides = config.get("overrides") or {}
    unknown = sorted(set(overrides) - set(OVERRIDE_NAMES))
    if unknown:
        raise ValueError(f"unknown overrides {unknown} in config; known: {', '.join(OVERRIDE_NAMES)}")
    parts = [f"{name}={_fmt(overrides[name])}" for name in OVERRIDE_NAMES if name in overrides]
    return " ".join([BASE] + parts)


def variant_of(config: dict) -> variants.Variant:
    """The variant of a run from its ``config`` (a run folder's config.json or a result record's ``config``).

    Works on the configs of every result written so far: those without ``overrides`` ran none (the earlier
    run names carried a tag for each override, and no committed result has one).
    """
    return variants.resolve(variants.values(config, FIXES), FIXES, base=base_of(config))
