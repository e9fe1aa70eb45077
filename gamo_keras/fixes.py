"""Every deliberate departure from the released GAMO code, as one table (framework-free).

The default of each entry is what the released code does (SankhaSubhra/GAMO at 165d634), with one documented
exception: ``gamo2pix_keep_order`` (the released GAMO2pix shuffles the class samples again, without a seed, so
the trained IGU weights are applied to samples in another order; the port keeps GAMO's order and the flag
restores the bug). This table generates ``run.py``'s correction flags, the run's variant name and the flag table
of README.md (``python -m shared_data fixes gamo_keras/fixes.py --write-readme gamo_keras/README.md``).

File and line references are to the released repository at commit 165d634.
"""
from __future__ import annotations

from shared_data import variants
from shared_data.variants import Fix

PAPER_METHOD = "GAMO"  # the method's name in paper_tables/*.csv

FIXES = (
    Fix("fashion_transpose", True, flag="--no-fashion-transpose",
        help="keep Fashion-MNIST's official row-major orientation (Fashion-MNIST only)",
        original="every Fashion-MNIST image, train and test, is transposed (rows and columns swapped) before the "
                 "draw (`fMNIST_process.py` L13-19)"),
    Fix("joint_feature_training", False,
        help="train F together with M on every real batch (fakes still carry no gradient to F); conv variant "
             "only",
        original="F gets one epoch of `conv_mlp.fit` through frozen M before each pass over the data "
                 "(`fashion_mnist_gamo_main.py` L40-45, L97); M and D then train on fixed numpy features "
                 "(L98-100), so F never sees a generated sample"),
    Fix("cls_loss", "mse", choices=("mse", "ce"),
        help="`ce`: categorical cross-entropy for M's own updates and F's epoch (G against M keeps MSE: its "
             "target 1 - one-hot is not a distribution)",
        original="M and `conv_mlp` are compiled with mean squared error on the softmax output "
                 "(`dense_gamo_main.py` L51; `fashion_mnist_gamo_main.py` L39, L45)"),
    Fix("adv_loss", "mse", choices=("mse", "bce"),
        help="`bce`: binary cross-entropy for D and for G against D",
        original="D and every G->D composite are compiled with mean squared error on the sigmoid output "
                 "(`dense_gamo_main.py` L55, L81; `fashion_mnist_gamo_main.py` L48, L76)"),
    Fix("separate_optimizers", False,
        help="one Adam (own counter, one moment set per weight) per player M, D, G and F",
        original="one `Adam(0.0002, 0.5)` object (`dense_gamo_main.py` L24) is passed to every `compile` "
                 "(L51, L55, L72, L81): one iteration counter for all 22 updates of an iteration, one moment set "
                 "per compiled model (the shared cTMU has 18)"),
    Fix("fake_bn_mode", "inference", choices=("inference", "train"),
        help="`train`: make the fakes shown to M and D with the cTMU's BatchNorm in training mode (batch "
             "statistics, moving averages left alone)",
        original="the fakes shown to M and D come from `gen.predict`, BatchNorm on its moving averages "
                 "(`dense_gamo_main.py` L114; `fashion_mnist_gamo_main.py` L113), while G's own updates run it in "
                 "training mode on 4 same-class samples (L129-130)"),
    Fix("gamo2pix_keep_order", True, flag="--gamo2pix-shuffle-bug",
        help="GAMO2pix stage: restore the released reshuffle (seeded here), so each IGU's weights hit other "
             "samples",
        original="the port's default differs: the released GAMO2pix draws a new unseeded shuffle "
                 "(`fashion_mnist_gamo2pix_main.py` L58-64) before rebuilding each class's samples (L83-86), "
                 "so the IGU weights loaded at L89-92 combine samples in another order than they were trained on"),
    Fix("vae_logvar_consistent", False,
        help="GAMO2pix stage: sample z = z_mean + exp(z_sigma / 2) * eps, consistent with the KL term",
        original="z = z_mean + exp(z_sigma) * eps (`fashion_mnist_gamo2pix_net.py` L23-28: z_sigma as a "
                 "log-std) while the KL term treats z_sigma as a log-variance "
                 "(`fashion_mnist_gamo2pix_main.py` L23)"),
)

# GAMO2pix is a separate stage that writes pictures only: these settings never change a GAMO result.
GAMO2PIX_KEYS = ("gamo2pix_keep_order", "vae_logvar_consistent")
_BY_KEY = {f.key: f for f in FIXES}


def base_of(config: dict) -> str:
    """'baseline' for ``--model baseline`` (classifier M alone), else 'gamo' (the three-player game)."""
    return "baseline" if config.get("model") == "baseline" else "gamo"


def paper_method_of(config: dict) -> str | None:
    """GAMO's name in paper_tables/ for a GAMO run; None for the baseline (M alone), which no table reports."""
    return None if base_of(config) == "baseline" else PAPER_METHOD


def variant_of(config: dict) -> variants.Variant:
    """The variant of a GAMO (or baseline) run from its config dict (``config.json`` / ``result.json``).

    Settings that cannot touch the classification result count as defaults: the Fashion transpose on
    another dataset (nothing is transposed) and the GAMO2pix settings (a later, separate stage).
    """
    values = variants.values(config, FIXES)
    if config.get("dataset") != "fashion":
        values["fashion_transpose"] = _BY_KEY["fashion_transpose"].default
    for key in GAMO2PIX_KEYS:
        values[key] = _BY_KEY[key].default
    return variants.resolve(values, FIXES, base=base_of(config))


def gamo2pix_variant(config: dict) -> variants.Variant:
    """The GAMO2pix stage's own variant ('gamo2pix', 'gamo2pix+gamo2pix-shuffle-bug', ...): it names the
    folder of the stage's decoders and pictures inside the GAMO run folder."""
    all_values = variants.values(config, FIXES)
    values = {f.key: (all_values[f.key] if f.key in GAMO2PIX_KEYS else f.default) for f in FIXES}
    return variants.resolve(values, FIXES, base="gamo2pix")
