"""GAMO on MNIST, pixel space (``dense_gamo_main.py``): the 784-d MLP variant.

Command: ``make reproduce-gamo-mnist`` (= ``run.py --dataset mnist --protocol gamo --split-seed 0 --budget full``).
Reproduces: no GAMO-paper number is available here; with ``--protocol dgc`` the DGC paper's re-run of GAMO gives
ACSA 0.8826 (paper_tables/dgc_cvpr2020.csv).
Budgets: full = 25,000 iterations (50,000 steps, the released schedule): 8-13 min on a 2-core CPU; quick = 2,500
iterations (every constant the same, only max_step is 10x smaller); smoke = 20 iterations with evaluation every
10 (tests only; numbers meaningless).
``CONFIG`` holds every constant of the released code; fashion.py and, through it, the RGB extensions change only
the dataset, the variant and the image shape.
"""
CONFIG = dict(
    dataset="mnist",
    variant="dense",  # "dense": pixel-space MLP; "conv": features of the CNN F (fashion.py)
    image_shape=(28, 28, 1),
    model="gamo",  # "gamo": the three-player game; "baseline": M alone (the original's deleted dense_mlp_main.py)
    # -- the game (both main scripts) ------------------------------------------------------------------------
    learning_rate=2e-4,
    beta_1=0.5,
    beta_2=0.999,
    adam_epsilon=1e-7,  # K.epsilon()
    latent_dim=100,  # latDim
    batch_size=32,  # batchSize
    max_step=50000,  # step += 2 per GAMO iteration: 25,000 iterations
    eval_every_steps=500,  # resSamplePd
    save_every_steps=5000,  # modelSamplePd
    real_smoothing=0.1,  # D's real target 1 - U(0, 0.1)
    fake_smoothing=0.1,  # D's fake target U(0, 0.1)
    ctmu_units=(256, 64),
    bn_momentum=0.9,
    bn_epsilon=1e-3,
    mlp_units=(256, 128),  # M and D hidden layers
    leaky_slope=0.1,
    conv_filters=32,
    conv_kernel=5,
    feature_dim=512,
    feature_batch=500,  # F.predict batch when the features are recomputed
    # -- opt-in corrections: the keys of fixes.FIXES, values = the released code -------------------------------
    fashion_transpose=True,  # fMNIST_process.py transposes every Fashion image
    joint_feature_training=False,  # F: one epoch through frozen M per pass
    cls_loss="mse",  # "mse" or "ce" (M's own updates and F's epoch)
    adv_loss="mse",  # "mse" or "bce" (D and G-vs-D)
    separate_optimizers=False,  # one shared Adam object
    fake_bn_mode="inference",  # "inference" or "train": the cTMU's BN when it makes M's and D's fakes
    # -- GAMO2pix (Fashion and the RGB extension) -------------------------------------------------------------
    gamo2pix=True,
    gamo2pix_steps=25000,  # per minority class, step += 1
    gamo2pix_batch=32,
    gamo2pix_latent=100,
    gamo2pix_hidden=128,
    gamo2pix_save_every=2000,
    gamo2pix_preview_every=500,
    gamo2pix_keep_order=True,  # the one exception: GAMO's sample order is the default (fixes.py)
    vae_logvar_consistent=False,  # sample with exp(z_sigma), as released
    # -- port settings (no effect on the maths) ----------------------------------------------------------------
    eval_batch=1000,
    xla=True,  # TensorFlow backend: the game's compiled chunks use XLA (jit_compile; 3x faster, bench.py)
    xla_conv=False,  # TensorFlow backend: F's epoch/features without XLA (XLA's CPU convolutions are ~25x slower
    #                  than oneDNN's here, bench.py); JAX always uses XLA
    max_segment=250,  # most iterations per compiled call (never crosses an evaluation or checkpoint)
    description="GAMO, MNIST, pixel-space MLP variant (dense_net.py / dense_gamo_main.py)",
    expected_runtime={"cpu_2_cores": "7-10 min (AMD EPYC, results/gamo/mnist-gamo-*)"},
)

BUDGETS = {
    "quick": dict(max_step=5000, save_every_steps=2500, expected_runtime={"cpu_2_cores": "about a tenth of full"}),
    "smoke": dict(max_step=40, eval_every_steps=20, save_every_steps=20, gamo2pix_steps=10,
                  gamo2pix_save_every=10, expected_runtime={"cpu_2_cores": "under 1 min"}),
}
