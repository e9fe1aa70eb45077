"""Every behaviour of the released DFG code (opensuh/DFG@41fa92d; code of fa1218f) that this port can correct.
The default is the released behaviour; each flag switches one on (README, "Faithful behaviour and the opt-in fixes")."""
from shared_data.variants import Fix

FIXES = (
    Fix("leaky_slope", 1.0, type=float,
        help="negative slope of G's and D's LeakyReLUs (0.2: a real leaky ReLU)",
        original="`nn.LeakyReLU(True)` sets negative_slope=1.0: G's hidden activations and all of D are linear "
                 "(model.py L26-66, L91-97)"),
    Fix("attention_rho_blend", False,
        help="threshold rho * old mask + (1 - rho) * new attention at each attention update",
        original="the rho blend is only written to a CSV; the new attention alone is thresholded (train.py L759-771)"),
    Fix("extractor_importance_sign", "dfg", choices=("dfg", "delta"),
        help="delta: importance = L_without_j - L_base for the generator attention and extractor weights",
        original="w_ij = L_base - L_without_j (train.py L437, L737), opposite to DELTA and to DFG's own "
                 "classifier weights (L305)"),
    Fix("shared_minority_draw", False,
        help="channel-eval uses the training split's minority classes",
        original="channel_evaluation and train_gan are separate processes that each shuffle the class list "
                 "unseeded (custom_data_loader.py), so they see different minority classes; the port draws the "
                 "channel-eval split with split seed + 1000"),
    Fix("report", "best", choices=("best", "final"),
        help="final: report the model at the last step",
        original="the best test accuracy over the evaluations every 100 steps is printed (train.py L979-990)"),
    Fix("val_fraction", 0.0, type=float,
        help="hold out this stratified fraction of the training split and report the step with the best "
             "validation accuracy",
        original="no validation split; model selection on the test set (train.py L979-990)"),
    Fix("gen_label_dist", "uniform", choices=("uniform", "minority", "deficit"),
        help="labels of generated features: uniform over the minority classes, or proportional to n_max - n_c",
        original="uniform over all K classes, `np.random.random_integers(0, K - 1)` (utils.py L5)"),
    Fix("single_ce_step4", False,
        help="count the cross-entropy once in the extractor/classifier update",
        original="loss = e_loss + c_loss_real, both containing the same CE (train.py L660-661)"),
    Fix("reuse_channel_eval_head", False,
        help="ResNet-50 only (not built by this port): keep the head trained during channel evaluation",
        original="train_fc's head serves the channel weights only; train_gan starts from a fresh head "
                 "(train.py L420-421, model.py L213-214)"),
    Fix("test_center_crop", None, type=int,
        help="ResNet-50 only (not built by this port): centre-crop test images to this size",
        original="test images are Resize((256, 256)) full frames while training uses 224 crops "
                 "(custom_data_loader.py)"),
    Fix("imagenet_normalisation", False,
        help="ImageNet-weight backbones only (not built by this port): ImageNet mean/std",
        original="Normalize(0.5, 0.5) for every backbone (train.py load_data_set)"),
    Fix("source_head", "reuse", choices=("reuse", "fresh"),
        help="fresh: a new random head for the target (trained on frozen features during channel-eval)",
        original="the 10-way source head (EMNIST digits) initialises the Fashion-MNIST classifier without "
                 "label remapping (model.py L225-235)"),
    Fix("eval_mode_side_passes", False,
        help="eval mode for E_t's critic forwards and for the attention updates (no effect on LeNet-5, which "
             "has no batch norm and no dropout)",
        original="E_t stays in train mode in the critic steps and E_t/C_t during attention updates "
                 "(train.py L543-559, L726)"),
    Fix("eval_final_step", False,
        help="also evaluate the model after the last step (it enters the best-of selection)",
        original="evaluations at steps 100 ... steps-100 only; the saved final model is not scored "
                 "(train.py L985)"),
)

RESNET_ONLY = ("reuse_channel_eval_head", "test_center_crop", "imagenet_normalisation")

# The paper's names of the four rows this folder runs (paper_tables/dfg_patrec2022.csv), by --model.
PAPER_METHODS = {"dfg": "DFG", "original": "ORIGINAL", "fine-tuning": "FINE-TUNING", "delta": "DELTA"}
PAPER_METHOD = "DFG"


def paper_method_of(config: dict) -> str:
    return PAPER_METHODS[config.get("model", "dfg")]


# The regulariser weights of the released code (train.py argparse defaults); a run with other weights is an
# ablation, named by them and not faithful.
STRENGTHS = {"alpha_extractor": ("alpha-e", 0.01), "alpha_classifier": ("alpha-c", 0.01)}


def variant_of(config: dict):
    """The run's variant: the model (dfg or a baseline, the paper's rows), ``-released-ce`` when the authors'
    channel-evaluation files replace the port's own, plus every non-default fix and regulariser weight."""
    from shared_data.variants import Variant, resolve

    base = config.get("model", "dfg")
    if config.get("channel_eval", "computed") == "released":
        base += "-released-ce"
    v = resolve(config["fixes"], FIXES, base=base)
    changed = {key: config[key] for key, (_, default) in STRENGTHS.items() if config.get(key, default) != default}
    if not changed:
        return v
    labels = [f"{STRENGTHS[k][0]}={value:g}" for k, value in changed.items()]
    return Variant("+".join([v.name] + labels), False, {**v.fixes, **changed})
