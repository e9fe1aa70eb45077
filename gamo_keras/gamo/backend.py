"""The few things Keras 3's ``keras.ops`` does not give backend-agnostically: gradients of a pure function,
compiling a pure function, moving arrays to and from the device, listing the accelerators.

TensorFlow: ``tf.GradientTape`` and ``tf.function`` (optionally XLA, ``jit_compile``); JAX:
``jax.value_and_grad`` and ``jax.jit``. Everything else in the game is written with ``keras.ops``.
"""
from __future__ import annotations

import keras
import numpy as np
from shared_data.errors import ConfigError


def name() -> str:
    return keras.backend.backend()


SUPPORTED = ("tensorflow", "jax")


def check() -> str:
    """The Keras backend in use, or a ConfigError naming the supported ones."""
    b = name()
    if b not in SUPPORTED:
        raise ConfigError(f"gamo_keras runs on the {' and '.join(SUPPORTED)} backends of Keras 3, not {b!r} "
                         f"(set KERAS_BACKEND=tensorflow or jax)")
    return b


def value_and_grad(fn, params, *args):
    """``fn(params, *args) -> (loss, aux)``; returns ``loss, aux, d loss / d params`` (same structure)."""
    b = name()
    if b == "jax":
        import jax

        (loss, aux), grads = jax.value_and_grad(fn, has_aux=True)(params, *args)
        return loss, aux, grads
    if b == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, aux = fn(params, *args)
        return loss, aux, tape.gradient(loss, params)
    raise RuntimeError(f"gamo_keras supports the tensorflow and jax backends of Keras 3, not {b!r} "
                       f"(set KERAS_BACKEND=tensorflow or jax)")


def compile_fn(fn, xla: bool | None = None):
    """Compile a pure function of arrays (pytrees of arrays in, pytrees out).

    TensorFlow: ``tf.function`` with ``jit_compile=xla`` (default: XLA on, see ``bench.py``); JAX: ``jax.jit``
    (always XLA). Python values must not be passed: close over them instead, so one trace serves every call.
    """
    b = name()
    if b == "jax":
        import jax

        return jax.jit(fn)
    if b == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True if xla is None else bool(xla), reduce_retracing=False)
    raise RuntimeError(f"unsupported Keras backend {b!r}")


def to_device(tree):
    """numpy pytree -> backend arrays (float64 -> float32)."""
    def conv(a):
        a = np.asarray(a)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        return keras.ops.convert_to_tensor(a)

    return keras.tree.map_structure(conv, tree)


def to_numpy(tree):
    return keras.tree.map_structure(lambda a: np.asarray(keras.ops.convert_to_numpy(a)), tree)


def gpu_names() -> list[str]:
    """Names of the accelerators the backend computes on (empty on CPU), for ``records.describe_device``."""
    b = name()
    if b == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if b == "tensorflow":
        import tensorflow as tf

        return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in tf.config.list_physical_devices("GPU")]
    return []
