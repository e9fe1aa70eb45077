"""TensorFlow in TF1 graph mode, imported once for the whole package.

``TF_USE_LEGACY_KERAS`` has to be in the environment before the first ``import tensorflow`` (TF 2.21 has no
``tf.compat.v1.layers`` otherwise; environments/README.md), so every module takes ``tf`` from here.
"""
import os

from shared_data import quiet  # noqa: E402

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with quiet.framework_import():  # on a CPU machine: without the CUDA build's native probe notices
    import tensorflow.compat.v1 as tf  # noqa: E402

tf.logging.set_verbosity(tf.logging.ERROR)  # before the switches below: no deprecation notices
tf.disable_eager_execution()
tf.disable_v2_behavior()

__all__ = ["tf"]
