"""GAMO: Generative Adversarial Minority Oversampling (Mullick, Datta, Das, ICCV 2019, arXiv 1903.09730),
a Keras 3 reproduction of the released code (github.com/SankhaSubhra/GAMO at 165d634).

Keras 3 runs on the TensorFlow backend by default (``KERAS_BACKEND`` selects ``jax`` on a GPU machine).
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
