"""Extension (no released code): GAMO on SVHN, the same 32x32x3 conv variant and budgets as ``cifar10.py``
(F's Flatten becomes 8*8*32 = 2048; GAMO2pix's decoder ends in 3 channels). Runs on the ``dgc`` protocol: the
``gamo`` draw (the first 4000 images of each class, ``maxPTrClass`` in ``MNIST_process.py`` L16 of the released
code) cannot produce a 4500-image class.
The data is not available offline on the development machines.
"""
from .cifar10 import BASE as _RGB32, BUDGETS  # noqa: F401  (BUDGETS: the same schedule)

BASE = dict(_RGB32, dataset="svhn", description="GAMO extension, SVHN, conv feature variant adapted to 32x32x3")
