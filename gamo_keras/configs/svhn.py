"""Extension (no released code): GAMO on SVHN, the same 32x32x3 conv variant and budgets as ``cifar10.py``
(F's Flatten becomes 8*8*32 = 2048; GAMO2pix's decoder ends in 3 channels). Runs on the ``dgc`` protocol: the
``gamo`` draw (the first 4000 images of each class, ``maxPTrClass`` in ``MNIST_process.py`` L16 of the released
code) cannot produce a 4500-image class.
The data is not available offline on the development machines.
"""
from . import cifar10 as _rgb32

CONFIG = dict(_rgb32.CONFIG, dataset="svhn",
              description="GAMO extension, SVHN, conv feature variant adapted to 32x32x3")
BUDGETS = _rgb32.BUDGETS  # the same schedule
