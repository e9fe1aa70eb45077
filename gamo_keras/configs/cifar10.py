"""Extension (no released code): GAMO on CIFAR-10 with the Fashion conv variant adapted to 32x32x3 (F's
Flatten becomes 8*8*32 = 2048; GAMO2pix's decoder ends in 3 channels). Runs on the ``dgc`` protocol: the
``gamo`` draw (the first 4000 images of each class, ``maxPTrClass`` in ``MNIST_process.py`` L16 of the released
code) cannot produce a 4500-image class.
Budgets as for Fashion-MNIST. The data is not available offline on the development machines.
"""
from .fashion import CONFIG as _FASHION

CONFIG = dict(
    _FASHION,
    dataset="cifar10",
    image_shape=(32, 32, 3),
    description="GAMO extension, CIFAR-10, conv feature variant adapted to 32x32x3",
    expected_runtime={},
)

BUDGETS = {
    "quick": dict(max_step=5000, save_every_steps=2500, gamo2pix_steps=2000),
    "smoke": dict(max_step=40, eval_every_steps=20, save_every_steps=20, gamo2pix_steps=10,
                  gamo2pix_save_every=10, gamo2pix_preview_every=10),
}
