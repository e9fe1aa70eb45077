"""TensorFlow in TF1 graph mode, imported once for the whole package.

``TF_USE_LEGACY_KERAS`` has to be in the environment before the first ``import tensorflow``
(environments.md, section 2.2), so every module takes ``tf`` from here.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow.compat.v1 as tf  # noqa: E402

tf.logging.set_verbosity(tf.logging.ERROR)
tf.disable_eager_execution()
tf.disable_v2_behavior()

__all__ = ["tf"]
