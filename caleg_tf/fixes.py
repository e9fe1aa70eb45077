"""CaLeG's opt-in corrections: one table for the flags, the variant name and the README's flag table.

Framework-free (imports only ``shared_data.variants``), so the results migration and the report can read it
without TensorFlow. Every default is what the released code does (anonymous184/CaLeG at commit 096caad, the
file and line in ``original``); each flag switches one correction on. ``python -m shared_data fixes
caleg_tf/fixes.py --write-readme caleg_tf/README.md`` regenerates the README's table from it.
"""
from __future__ import annotations

from shared_data import variants
from shared_data.variants import Fix

PAPER_METHOD = "CaLeG"  # the method's name in paper_tables/*.csv (no CaLeG paper, hence no row, was found)

FIXES = (
    Fix("train_classifier_phase2", False,
        help="keep training the latent classifier C after the warm-up: the encoder step also updates C",
        original="C is built inside the decoder's `generator` scope (`models.py` L22-23) and the encoder step "
                 "updates the `encoder` variables only (`caleg.py` L88, L92), so C learns only in the joint "
                 "autoencoder steps before the first refit (L95, L303)"),
    Fix("classify_generated", False,
        help="add the cross-entropy of C on the generated codes, CE(C(z_gen), y_gen), to the encoder step's "
             "objective (acts on C only together with --train-classifier-phase2)",
        original="C's logits on the generated codes (`caleg.py` L42) are in no loss; the classifier loss uses "
                 "the real batch only (L51, L77)"),
    Fix("ce_reduction", "sum", choices=("sum", "mean"),
        help="`mean`: the classifier cross-entropy is averaged over the batch",
        original="the classifier cross-entropy is summed over the batch (`caleg.py` L126-128), beside a "
                 "batch-mean reconstruction and MMD"),
    Fix("gp_real_resample", False,
        help="r > 1: pair the generated images of the gradient penalty with real rows drawn with replacement",
        original="for r > 1 the real batch is gathered with a permutation of range(number of generated codes) "
                 "(`caleg.py` L163-166): indices past the batch give zero rows on a GPU (emulated here) and an "
                 "error on a CPU"),
    Fix("separate_optimizers", False,
        help="one Adam instance per minimise op",
        original="one Adam instance serves the encoder, decoder, discriminator and joint steps (`caleg.py` "
                 "L91-95), so its bias-correction powers advance three times per phase-2 iteration"),
    Fix("no_eval_noise", False,
        help="no input noise when evaluating",
        original="the encoder adds truncated-normal noise (std 0.01) to its input in every mode (`models.py` "
                 "L13-14), evaluation included (`caleg.py` L416-418)"),
    Fix("refit_real_only", False,
        help="refit the class Gaussians on the real codes only",
        original="each refit pools the epoch's real codes with every generated code the discriminator's class "
                 "head accepted (`caleg.py` L341-343, L357-364, L398)"),
    Fix("cov_ridge", 0.0, type=float,
        help="add RIDGE times the identity to every class covariance before sampling",
        original="`np.cov` of the pool (`caleg.py` L399), sampled by `np.random.multivariate_normal` (L220) "
                 "with no ridge, although the first refit sees fewer codes than dimensions in the smallest "
                 "classes"),
    Fix("critic_use_d_config", False,
        help="build the discriminator's conv stack from d_num_filters / d_num_layers (changes MNIST and "
             "Fashion-MNIST only: 512 wide instead of 1024)",
        original="the discriminator reuses the encoder's conv stack (`models.py` L33), which reads "
                 "e_num_filters / e_num_layers (L40-41); d_num_filters / d_num_layers (`configs.py` L31-32, "
                 "L73-74) are never read"),
    Fix("reshuffle_each_epoch", False,
        help="a new batch order before every epoch after the first (the first keeps the loader's order)",
        original="batches are consecutive slices of one order (`caleg.py` L294-298), shuffled once by the "
                 "loader (`dataset.py` L62)"),
    Fix("report_epoch", None, type=int,
        help="report this epoch (1-based) instead of the last",
        original="the test set is evaluated after every epoch (`caleg.py` L355, L406-424) and nothing selects "
                 "an epoch; the port reports the last"),
    Fix("val_fraction", 0.0, type=float,
        help="hold out this stratified fraction of the training subset and report the epoch with the best "
             "validation ACSA",
        original="no validation split: the loader returns the training subset and the test set only "
                 "(`dataset.py` L44-64)"),
)


def base_name(aug_rate: float) -> str:
    """The model's own parameter: ``caleg r=<aug rate>``, or ``caleg no-aug`` (r <= 0, the original's
    ``caleg_noaug.py``, chosen in ``run.py`` L18-21)."""
    return f"caleg r={float(aug_rate):g}" if float(aug_rate) > 0 else "caleg no-aug"


def variant_of(config: dict) -> variants.Variant:
    """The variant of a run from its config dict (a new run's, or the ``config`` of any committed result)."""
    return variants.resolve(variants.values(config, FIXES), FIXES, base=base_name(config["aug_rate"]))
