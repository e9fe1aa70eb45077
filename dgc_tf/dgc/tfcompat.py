"""Import TensorFlow in TF1 graph mode.

``TF_USE_LEGACY_KERAS`` must be set before TensorFlow is first imported (TF 2.21 has no ``tf.compat.v1.layers``
otherwise; environments/README.md); every
module of the package gets ``tf`` from here so that the order cannot go wrong.
"""
import os

from shared_data import quiet  # noqa: E402

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with quiet.framework_import():  # on a CPU machine: without the CUDA build's native probe notices
    import tensorflow.compat.v1 as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # before the switches below, whose deprecation notices it holds back too, and
# e.g. the Saver's notice on deleting old checkpoints
tf.disable_eager_execution()
tf.disable_v2_behavior()

__all__ = ["tf"]
