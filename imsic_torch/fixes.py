"""IMSIC's opt-in corrections: every default is what the released code (fudonglin/IMSIC@649abbd) does.

Framework-free (imports only ``shared_data.variants``): run.py builds its flags from this table, names the
run's variant with :func:`variant_of` and the README's flag table is generated from it.
"""
from shared_data.variants import Fix, resolve

PAPER_METHOD = "IMSIC"

FIXES = (
    Fix("structure_loss", "hinge", choices=("hinge", "positive"),
        help="positive: the sum of the positive-edge MSEs only, no subtraction and no hinge, so the latent head "
             "and the continuous codes get a training signal (a project construction: the paper's Bayesian-network "
             "likelihood is not available)",
        original="Σpositive − Σnegative − Σ_{i<=j} MSE(pred_i, c_j) if that is >= 0, else 0; the self-edges cancel "
                 "and the hinge stays closed in practice (source/utils.py L121-139)"),
    Fix("single_softmax", False,
        help="feed the class head's logits to CrossEntropyLoss (one softmax)",
        original="the class head ends in Softmax and its probabilities go into CrossEntropyLoss, a second "
                 "softmax (source/discriminator.py L26, source/experiment.py L91)"),
    Fix("bn_eps", 0.8, type=float,
        help="BatchNorm eps in G and D (1e-5 is PyTorch's default)",
        original="BatchNorm2d(n, 0.8): the 0.8 meant as a momentum sets eps = 0.8 (source/generator.py L20, L24; "
                 "source/discriminator.py L14)"),
    Fix("gan_dataset", "auto", choices=("auto", "mnist", "target"),
        help="mnist: train the GAN on MNIST whatever --dataset (the training script literally); target: on "
             "--dataset. auto: MNIST for MNIST; the target dataset for Fashion-MNIST, whose released pipeline "
             "loads a Fashion-trained checkpoint that the training script cannot produce (README)",
        original="GAN training always reads imbalanced MNIST (source/utils.py L156-168, called from "
                 "source/experiment.py L40)"),
    Fix("edges_clip_to_code_dim", False,
        help="drop every edge that names a code >= code_dim (on by force for Fashion-MNIST's code_dim 3)",
        original="the edge lists name code 3, so they need code_dim 4 (source/experiment.py L87-88)"),
    Fix("edges", "code", choices=("code", "figure"),
        help="figure: the repository figure's DAG c'1->c'2, c'2->c'4, c'3->c'4 plus self-edges as positive "
             "edges, every other ordered pair negative (matters in practice only with --structure-loss positive)",
        original="c3 depends on c0, c1, c2 (source/experiment.py L87-88), unlike the figure (fig/arch.png)"),
    Fix("synth_count", "100", choices=("100", "deficit"),
        help="deficit: n_max − n_c synthetic images for class c (a balancing scheme; project construction)",
        original="100 synthetic images for every class, the majority included (source/utils.py L329)"),
    Fix("fresh_z_per_class", False,
        help="draw a fresh z for every class (MNIST)",
        original="numpy is re-seeded just before each class is generated, so every class gets the same 100 z "
                 "(source/utils.py L257-258, L231)"),
    Fix("shared_real_subset", False,
        help="train the GAN on the CNN's real subset (the split)",
        original="the GAN draws its own MNIST subset from the torch stream after building G and D, so GAN and CNN "
                 "see different real images (source/utils.py L165 vs L270)"),
    Fix("reshuffle_each_epoch", False,
        help="a new CNN batch order every epoch after the first",
        original="sequential batches over one fixed shuffled order in every epoch (source/train_cnn.py L55-60)"),
    Fix("eval_final_epoch", False,
        help="also evaluate (and report) the last epoch when the epoch count is odd",
        original="evaluates every 2 epochs only, so with 25 epochs (Fashion) the epoch-25 model is never scored "
                 "(source/train_cnn.py L83)"),
)


# The fixes that change how the GAN trains: a run with the authors' released GAN trains none, so they do not apply.
GAN_TRAINING_FIXES = ("structure_loss", "gan_dataset", "edges_clip_to_code_dim", "edges", "shared_real_subset")


def gan_training_options(config: dict) -> list[str]:
    """The flags of ``config`` that change how the GAN trains (a GAN training fix, or single_softmax, which changes
    the discriminator), set away from their defaults: a run with the released GAN refuses them."""
    return [f.option for f in FIXES
            if (f.key in GAN_TRAINING_FIXES or f.key == "single_softmax") and config[f.key] != f.default]


def base_name(config: dict) -> str:
    """The model part of a variant name: the method or the baseline, and any paper parameter changed."""
    if config.get("model") == "baseline":
        return "baseline"
    parts = ["imsic"]
    if config.get("gan", "train") == "released":
        parts.append("gan=released")
    if config.get("category_map") == "hardcoded":
        parts.append("map=hardcoded")
    if config.get("lambda_con") is not None and float(config["lambda_con"]) != 0.15:
        parts.append(f"lcon={float(config['lambda_con']):g}")
    return " ".join(parts)


def variant_of(config: dict):
    """The run's ``shared_data.variants.Variant``. The baseline trains no GAN, so only the CNN's fixes apply."""
    vals = {f.key: config.get(f.key, f.default) for f in FIXES}
    if config.get("gan", "train") == "released" and config.get("model") != "baseline":
        vals = {k: (f.default if k in GAN_TRAINING_FIXES else vals[k]) for f in FIXES for k in [f.key]}
    if config.get("model") == "baseline":
        vals = {k: (v if k in ("reshuffle_each_epoch", "eval_final_epoch") else f.default)
                for f in FIXES for k, v in [(f.key, vals[f.key])]}
    return resolve(vals, FIXES, base_name(config))
