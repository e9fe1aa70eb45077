"""SVHN: the project's config (the original's `configs.py` has only `config_celeba` and `config_mnist`).

Fixed by the paper (Table 1, Sec. 4.2): 32x32x3, 10 classes (label 0 = digit 0), training counts 4500, 2000,
1000, 800, 600, 500, 400, 250, 150, 80 (IR 56.25), the full official test set (26032 images), k = 64, S = 10.
Everything else is an assumption: ``config_mnist`` verbatim apart from the data shape. It is dimensionally valid:
encoder 32 -> 16 -> 8 -> 4 -> 2 gives 2x2x1024 = 4096 = hdim; decoder 8x8x1024 -> 16x16x512 -> 32x32x256 ->
32x32x3. 103 batches per epoch: 102 of 100 and a last one of 80 (the original rounds the number of batches
up, `dgc.py` L324). The 26032 test images make 2603 test batches of 10 plus a last batch of 2.

Reproduces: DGC row of Table 2 (SVHN: ACSA 0.7493, Fmacro 0.7535, Gmacro 0.8501) and Table 3 (RMI 0.4882,
PMA 0.5348), split seeds 1-5.

    make reproduce-dgc-svhn           # full
    make reproduce-dgc-svhn-quick     # quick: 3 epochs, one evaluation on 500 test images

Needs ``train_32x32.mat`` and ``test_32x32.mat`` (not mirrored offline; fetched by shared_data where a network
exists). Not run yet.
"""
from . import mnist

CONFIG = dict(mnist.CONFIG, dataset="svhn", input_shape=[32, 32, 3])
BUDGETS = {k: dict(v) for k, v in mnist.BUDGETS.items()}
