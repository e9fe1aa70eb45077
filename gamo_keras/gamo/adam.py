"""Adam as standalone Keras 2.2 applied it, written as a pure function over explicit state.

    t     = iterations + 1
    lr_t  = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m     = beta_1 * m + (1 - beta_1) * g
    v     = beta_2 * v + (1 - beta_2) * g^2
    p     = p - lr_t * m / (sqrt(v) + epsilon)          (epsilon = K.epsilon() = 1e-7)

The original shares ONE ``Adam(0.0002, 0.5)`` object between every compiled model
(``dense_gamo_main.py`` L24, passed to every ``compile``): the
``iterations`` counter (hence the bias correction) advances on every model's update, 22 times per GAMO
iteration, while each compiled model gets its own moment slots for its trainable weights. Here a counter is a
named scalar and a slot set is a named list of (m, v) arrays, so both the shared form and one optimiser per
player (``--separate-optimizers``) are the same code with different names.
"""
from __future__ import annotations

from dataclasses import dataclass

from keras import ops


@dataclass(frozen=True)
class AdamConfig:
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    epsilon: float = 1e-7


def adam_update(params, grads, m, v, t, cfg: AdamConfig):
    """One update of a list of parameters. ``t`` is the counter *before* the update (Keras 2's
    ``iterations``). Returns (params, m, v, t + 1)."""
    t1 = t + 1.0
    lr_t = cfg.learning_rate * ops.sqrt(1.0 - ops.power(cfg.beta_2, t1)) / (1.0 - ops.power(cfg.beta_1, t1))
    new_p, new_m, new_v = [], [], []
    for p, g, mi, vi in zip(params, grads, m, v):
        mi = cfg.beta_1 * mi + (1.0 - cfg.beta_1) * g
        vi = cfg.beta_2 * vi + (1.0 - cfg.beta_2) * ops.square(g)
        new_p.append(p - lr_t * mi / (ops.sqrt(vi) + cfg.epsilon))
        new_m.append(mi)
        new_v.append(vi)
    return new_p, new_m, new_v, t1
